"""The JSON HTTP API under /api/ for the office's other tools: FastAPI routes authorised by the gateway, their
OpenAPI document generated from their types (api_models.py); 延期申请's writes are in extensions_api.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from starlette.responses import Response

from services.common.paging import every
from services.common.protojson import plain
from services.common.result_wire import result_to_json_dict
from services.common.wire_json import county_plain
from services.common.wire_text import as_text, text_data
from services.web import api_models as models
from services.web import extensions_api  # noqa: F401  (its routes join the router when imported)
from services.web.api_caller import Caller, Gw, router
from services.web.edge import typed_code, typed_instant
from services.web.layout import LOCAL, run_state, run_time
from services.web.replies import as_json

__all__ = ["router"]
Year = Annotated[int, Query(ge=0, description="年度（0：当年）")]
UnitCode = Annotated[str, Query(description="单位代码（空：全部，或单位自己的）")]


def _all(message: Any) -> dict[str, Any]:
    return plain(message, always_print_fields_with_no_presence=True)


def _run(run: Any) -> dict[str, Any]:
    """A listed run with its state's code and its instants in the county's time ("" when none)."""
    data = _all(run)
    data["state"] = run_state(run)
    for field in ("as_of", "created_at", "published_at", "finalized_at", "appeal_deadline"):
        data[field] = run_time(run, field)
    return data


@router.get("/overview", response_model=models.Overview, summary="每个单位的实时态势")
def overview(gw: Gw, session: Caller, year: Year = 0) -> Response:
    reply = gw.call(gw.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=year), session.token)
    return as_json(county_plain(reply, reply.time_zone))


@router.get("/dashboard", response_model=models.Dashboard, summary="一个单位的实时态势与在办事项")
def dashboard(gw: Gw, session: Caller, unit: UnitCode = "", year: Year = 0) -> Response:
    reply = gw.call(
        gw.gateway.GetDashboard,
        gateway_pb2.GetDashboardRequest(unit=unit or session.unit, year=year),
        session.token,
    )
    return as_json(county_plain(reply, reply.time_zone))


@router.get("/runs", response_model=models.Runs, summary="考核运行列表")
def runs(gw: Gw, session: Caller, year: Year = 0) -> Response:
    request_ = scoring_pb2.ListRunsRequest(year=year, page_size=500)
    found = every(lambda r: gw.call(gw.scoring.ListRuns, r, session.token), request_, lambda r: r.runs)
    return as_json({"runs": [_run(item) for item in found]})


@router.get(
    "/runs/{run}",
    response_model=models.Result,
    summary="一次考核的结果文档（与 kaohe assess show --json 相同）",
)
def run(
    gw: Gw,
    session: Caller,
    run: Annotated[str, Path(description="考核运行编号")],
    unit: Annotated[str, Query(description="只看这个单位（空：全部）")] = "",
) -> Response:
    """The result document exactly as `kaohe assess show --json` prints it."""
    reply = gw.call(gw.scoring.GetRun, scoring_pb2.GetRunRequest(id=run, unit=unit), session.token).run
    return as_json(result_to_json_dict(reply.result) if reply.HasField("result") else {})


@router.get("/tasks", response_model=models.Tasks, summary="事项列表")
def tasks(
    gw: Gw,
    session: Caller,
    unit: UnitCode = "",
    state: Annotated[str, Query(description="状态代码或名称（如 overdue、逾期）")] = "",
    color: Annotated[str, Query(description="颜色代码或名称（如 red、红）")] = "",
    year: Year = 0,
) -> Response:
    request_ = tasks_pb2.ListTasksRequest(
        unit=unit,
        state=typed_code(common_pb2.TaskState.DESCRIPTOR, state, "state"),
        color=typed_code(common_pb2.TaskColor.DESCRIPTOR, color, "color"),
        year=year,
        page_size=5000,
    )
    found = every(lambda r: gw.call(gw.tasks.ListTasks, r, session.token), request_, lambda r: r.tasks)
    return as_json({"tasks": [text_data(t, LOCAL) for t in found]})


@router.get("/units", response_model=models.Units, summary="单位列表")
def units(gw: Gw, session: Caller) -> Response:
    request_ = tasks_pb2.ListUnitsRequest(page_size=5000)
    found = every(lambda r: gw.call(gw.tasks.ListUnits, r, session.token), request_, lambda r: r.units)
    return as_json({"units": [_all(item) for item in found]})


@router.get(
    "/overdue-trend",
    response_model=models.OverdueTrend,
    summary="各单位每月末（或每周末）的逾期在办事项数",
)
def overdue_trend(
    gw: Gw,
    session: Caller,
    year: Year = 0,
    period: Annotated[str, Query(description="month（默认）或 week")] = "",
    unit: UnitCode = "",
    as_of: Annotated[str, Query(description="截至时刻，如 2025-06-30 18:00（空：现在）")] = "",
) -> Response:
    """Per unit, the overdue open tasks at each month-end (period=week: each week-end) of the year so far."""
    reply = gw.call(
        gw.tasks.GetOverdueTrend,
        tasks_pb2.GetOverdueTrendRequest(
            year=year,
            period=typed_code(tasks_pb2.TrendPeriod.DESCRIPTOR, period, "period"),
            unit=unit,
            as_of=typed_instant(as_of, "as_of"),
        ),
        session.token,
    )
    trend = as_text(reply, LOCAL)
    return as_json(
        {
            "year": trend.year,
            "period": trend.period,
            "as_of": trend.as_of,
            "points": list(trend.points),
            "units": [
                {"unit": s.unit, "name": s.name, "overdue": [int(v) for v in s.overdue]} for s in reply.units
            ],
        }
    )
