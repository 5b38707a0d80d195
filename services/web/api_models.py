"""The JSON API's answers as types: the OpenAPI document at /api/openapi.json is generated from them.

The answers themselves are the gateway's messages as `kaohe ... --json` prints them (every field, instants
in the county's time); these types name the fields a caller relies on and allow the rest (extra="allow").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    """An object whose other fields are the gateway message's own."""

    model_config = ConfigDict(extra="allow")


class UnitStanding(Open):
    unit: str = Field(description="单位代码")
    name: str = Field(description="单位名称")
    category: str = Field(description="单位类别")
    open_blue: int
    open_yellow: int
    open_red: int
    overdue: int = Field(description="逾期事项数")
    on_time_rate: float = Field(description="按时报送率（0–1；-1 表示尚无报送）")


class Overview(Open):
    """每个单位的实时态势."""

    year: int
    as_of: str = Field(description="截至时刻（县的时区）")
    scheme: str = Field(description="考核方案")
    units: list[UnitStanding]


class Dashboard(Open):
    """一个单位的实时态势与在办事项."""

    standing: UnitStanding
    open_items: list[dict[str, Any]]


class Run(Open):
    """一次考核运行：状态代码，时刻按县的时区（无则为空串）."""

    id: str
    year: int
    state: str = Field(description="状态代码，如 draft、published、final")
    as_of: str
    created_at: str
    published_at: str
    finalized_at: str
    appeal_deadline: str


class Runs(BaseModel):
    runs: list[Run]


class UnitResult(Open):
    unit: str
    name: str
    total: float
    rank: int
    grade: str


class Result(Open):
    """一次考核的结果文档（与 kaohe assess show --json 相同；尚无结果时为空对象）."""

    run: str | None = None
    state: str | None = None
    year: int | None = None
    units: list[UnitResult] | None = None


class Task(Open):
    id: str
    title: str
    state: str = Field(description="状态代码")


class Tasks(BaseModel):
    tasks: list[Task]


class Unit(Open):
    id: str = Field(description="单位代码")
    name: str = Field(description="单位名称")


class Units(BaseModel):
    units: list[Unit]


class UnitTrend(BaseModel):
    unit: str
    name: str
    overdue: list[int] = Field(description="每个时点的逾期在办事项数")


class OverdueTrend(BaseModel):
    """各单位每月末（或每周末）的逾期在办事项数."""

    year: int
    period: Literal["month", "week"]
    as_of: str
    points: list[str] = Field(description="各时点（月末或周末）")
    units: list[UnitTrend]


class Extension(Open):
    """一项延期申请，带经过（timeline）."""

    id: str
    task_id: str
    unit: str
    state: str = Field(description="pending、approved、refused 等")
    timeline: list[dict[str, Any]]


class Extensions(BaseModel):
    extensions: list[Extension]


class FileExtension(BaseModel):
    """牵头单位申请延期（字段均为字符串）."""

    task_id: str = Field(description="事项编号")
    due_at: str = Field(description="申请延至，如 2026-12-20 18:00")
    reason: str = Field(description="理由")
    request_id: str = Field("", description="幂等键（可省）")
    id: str = Field("", description="申请编号（可省）")


class DecideExtension(BaseModel):
    """考核办审批（字段均为字符串）."""

    decision: Literal["approved", "refused"]
    due_at: str = Field("", description="批准延至，默认按申请")
    reason: str = Field("", description="不予批准时必填")
    request_id: str = Field("", description="幂等键（可省）")


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI requestBody whose schema is the model's (the route reads the JSON itself: see json_body)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
