"""Overdue counts by unit over time: known counts at each month-end, through the gateway, per database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from kaohe.tasks.v1 import tasks_pb2

from services.common.errors import InvalidArgument
from services.web.edge import typed_code
from tests.conftest import Stack
from tests.tasks_text import text, typed

Z = "+08:00"
LEDGER: list[dict[str, Any]] = [
    {"type": "unit", "id": "a1", "name": "甲局", "category": "department"},
    {"type": "unit", "id": "a2", "name": "乙局", "category": "department"},
    {"type": "unit", "id": "b1", "name": "丙镇", "category": "township"},
    {"type": "unit", "id": "c1", "name": "丁镇", "category": "township"},
]


def _task(
    task: str, lead: str, assigned: str, due: str, events: list[tuple[str, str]], co: list[str] | None = None
) -> None:
    line: dict[str, Any] = {
        "type": "task",
        "id": task,
        "title": f"趋势 {task}",
        "task_type": "leader_directive",
        "lead_unit": lead,
        "assigned_at": f"2024-{assigned}{Z}",
        "due_at": f"{due}{Z}" if due.startswith("20") else f"2024-{due}{Z}",
    }
    if co:
        line["co_units"] = co
    LEDGER.append(line)
    for kind, at in events:
        LEDGER.append({"type": "task_event", "task": task, "kind": kind, "at": f"2024-{at}{Z}"})


# Overdue at Jan and Feb ends; reported in March.
_task("K1", "a1", "01-10T09:00:00", "01-20T23:59:59", [("report", "03-05T10:00:00")])
# Its first report rejected: overdue (lead and co-unit) until the report of April that stood.
_task(
    "K2",
    "a1",
    "02-01T09:00:00",
    "02-10T23:59:59",
    [("report", "02-20T10:00:00"), ("reject", "02-25T10:00:00"), ("report", "04-10T10:00:00")],
    co=["a2"],
)
# Cancelled in May: overdue at March and April ends.
_task("K3", "a2", "03-01T09:00:00", "03-15T23:59:59", [("cancel", "05-03T10:00:00")])
# Due on the last second of June: overdue at June's end already; closed in August.
_task("K4", "b1", "05-01T09:00:00", "06-30T23:59:59", [("close", "08-15T10:00:00")])
# Never done: overdue from November on.
_task("K5", "b1", "11-01T09:00:00", "11-20T23:59:59", [])
# Reported on time: never overdue.
_task("K6", "a1", "06-01T09:00:00", "06-20T23:59:59", [("report", "06-10T10:00:00")])
# Falls due next year: not overdue in this one.
_task("K7", "a1", "12-20T09:00:00", "2025-01-10T23:59:59", [])

MONTHLY = {
    "a1": [1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "a2": [0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    "b1": [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1],
    "c1": [0] * 12,
}


@pytest.fixture
def ledger(stack: Stack) -> Stack:
    stack.import_ledger("\n".join(json.dumps(line, ensure_ascii=False) for line in LEDGER).encode())
    return stack


def trend(stack: Stack, role: str = "office", own: str | None = None, **fields: Any) -> Any:
    """GetOverdueTrend through the gateway, as role (a department of unit own)."""
    _, tasks, _ = stack.stubs()
    request = typed(tasks_pb2.GetOverdueTrendRequest, **fields)
    return text(tasks.GetOverdueTrend(request, metadata=stack.metadata(role, own), timeout=60))


def series(reply: Any) -> dict[str, list[int]]:
    return {s.unit: list(s.overdue) for s in reply.units}


def test_the_overdue_count_of_every_unit_at_each_month_end(ledger: Stack) -> None:
    reply = trend(ledger, year=2024, as_of="2025-03-01T00:00:00+08:00")
    assert reply.year == 2024 and reply.period == "month"
    assert len(reply.points) == 12
    assert reply.points[0] == "2024-02-01T00:00:00+08:00"
    assert reply.points[-1] == "2025-01-01T00:00:00+08:00"
    assert series(reply) == MONTHLY
    assert {s.unit: s.name for s in reply.units}["b1"] == "丙镇"


def test_a_year_under_way_ends_at_as_of(ledger: Stack) -> None:
    reply = trend(ledger, year=2024, as_of="2024-03-20T12:00:00+08:00")
    assert list(reply.points) == [
        "2024-02-01T00:00:00+08:00",
        "2024-03-01T00:00:00+08:00",
        "2024-03-20T12:00:00+08:00",
    ]
    # On 20 March K1 is reported (5 March); K2 is still open; K3 fell due on the 15th.
    assert series(reply)["a1"] == [1, 2, 1]
    assert series(reply)["a2"] == [0, 1, 2]


def test_by_week(ledger: Stack) -> None:
    reply = trend(ledger, year=2024, period="week", as_of="2025-03-01T00:00:00+08:00")
    # 2024 starts on a Monday: 52 Mondays after 1 January, and the year's end.
    assert len(reply.points) == 53
    assert reply.points[2] == "2024-01-22T00:00:00+08:00"
    assert series(reply)["a1"][:3] == [0, 0, 1]  # K1 is due on the 20th


def test_a_department_sees_its_own_line_only(ledger: Stack) -> None:
    reply = trend(ledger, "department", "a2", year=2024, as_of="2025-03-01T00:00:00+08:00")
    assert series(reply) == {"a2": MONTHLY["a2"]}
    with pytest.raises(grpc.RpcError) as refused:
        trend(ledger, "department", "a2", year=2024, unit="a1")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_unknown_period_is_refused_by_name(ledger: Stack) -> None:
    # The word people type is read where they type it (the console's edge): refused there, by name.
    with pytest.raises(InvalidArgument) as typed_refusal:
        typed_code(tasks_pb2.TrendPeriod.DESCRIPTOR, "quarter", "period")
    assert [v.field for v in typed_refusal.value.violations] == ["period"]
    assert "quarter" in str(typed_refusal.value)
    # A period the contract does not define is refused by the service, by name.
    with pytest.raises(grpc.RpcError) as refused:
        trend(ledger, year=2024, period=99)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "period" in (refused.value.details() or "")


def test_the_year_so_far_sees_a_write_at_once(ledger: Stack) -> None:
    """The year so far is kept under the data's version: a new overdue task is counted on the next read."""
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
    first = trend(ledger)
    assert first.year == now.year and trend(ledger).units == first.units
    late = {  # overdue now, whatever the date: assigned two days ago, due yesterday
        "type": "task",
        "id": "K8",
        "title": "趋势 K8",
        "task_type": "leader_directive",
        "lead_unit": "c1",
        "assigned_at": (now - timedelta(days=2)).isoformat(),
        "due_at": (now - timedelta(days=1)).isoformat(),
    }
    ledger.import_ledger(json.dumps(late, ensure_ascii=False).encode())
    after = trend(ledger)
    assert series(after)["c1"][-1] == series(first)["c1"][-1] + 1
