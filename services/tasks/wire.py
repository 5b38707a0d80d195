"""The tasks service's views as the messages of its contract (kaohe.tasks.v1): one function per message.

The servicer (services/tasks/rpc.py) hands each use case's answer to one of these; nothing here reads the
database or decides anything.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, tzinfo
from typing import Any, cast

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.errors import InvalidArgument
from services.common.protoenum import enum_code, enum_codes, enum_number
from services.common.wiretime import instant, rfc3339_of
from services.tasks import extensions
from services.tasks.facts import UnitSummary
from services.tasks.holidays import CalendarYear, NoticeImported
from services.tasks.people import PersonView
from services.tasks.trend import Trend
from services.tasks.use_cases import TaskView


def dates(days: list[str]) -> list[Date]:
    """ISO dates as google.type.Date."""
    return [Date(year=d.year, month=d.month, day=d.day) for d in map(date.fromisoformat, days)]


TASK_INSTANTS = (
    "assigned_at",
    "due_at",
    "reported_at",
    "next_progress_due",
    "created_at",
    "updated_at",
    "as_of",
    "progress_overdue_since",
)


def stamp(text: str) -> Timestamp | None:
    """A view's RFC 3339 text as a Timestamp ("" none)."""
    return instant(datetime.fromisoformat(text)) if text else None


def _typed(
    data: dict[str, Any], instants: tuple[str, ...], enums: dict[str, EnumDescriptor]
) -> dict[str, Any]:
    """A view's fields with its instants as Timestamps and its closed sets as enum values."""
    out = dict(data)
    for name in instants:
        out[name] = stamp(data[name])
    for name, kind in enums.items():
        out[name] = enum_number(kind, data[name], field=name)
    return out


TASK_ENUMS = {"state": common_pb2.TaskState.DESCRIPTOR, "color": common_pb2.TaskColor.DESCRIPTOR}


def task_message(view: TaskView) -> tasks_pb2.Task:
    """A task with its history and parts."""
    data = asdict(view)
    history = data.pop("history")
    parts = data.pop("parts")
    enums = TASK_ENUMS | {"outcome": common_pb2.TaskOutcome.DESCRIPTOR}
    return tasks_pb2.Task(
        **_typed(data, TASK_INSTANTS, enums),
        history=[
            tasks_pb2.TaskEvent(**_typed(e, ("at", "due_at"), {"kind": tasks_pb2.TaskEventKind.DESCRIPTOR}))
            for e in history
        ],
        parts=[tasks_pb2.TaskPart(**_typed(p, ("due_at", "reported_at"), TASK_ENUMS)) for p in parts],
    )


EXTENSION_STATE = tasks_pb2.ExtensionState.DESCRIPTOR
STEP_ENUMS = {"event": tasks_pb2.ExtensionEvent.DESCRIPTOR, "outcome": EXTENSION_STATE}


def extension_message(view: extensions.ExtensionView) -> tasks_pb2.Extension:
    """An extension request with its timeline."""
    data = asdict(view)
    timeline = data.pop("timeline")
    instants = ("asked_due", "due_before", "granted_due", "filed_at", "decided_at")
    return tasks_pb2.Extension(
        **_typed(data, instants, {"state": EXTENSION_STATE}),
        timeline=[tasks_pb2.ExtensionStep(**_typed(step, ("at", "due_at"), STEP_ENUMS)) for step in timeline],
    )


def request_code(enum: EnumDescriptor, number: int, field: str) -> str:
    """A request's enum field as the code the use cases read ("" unspecified); a number this contract
    does not define is refused naming the field."""
    if number not in enum.values_by_number:
        raise InvalidArgument(field, f"{number} 不是可用的值（可用：{'、'.join(enum_codes(enum))}）")
    return enum_code(enum, number)


def view_text(message: Message, field: str, tz: tzinfo) -> str:
    """A request's Timestamp as the RFC 3339 text the use cases read ("" when unset: now, or none)."""
    try:
        return rfc3339_of(message, field, tz)
    except (OverflowError, OSError, ValueError):
        raise InvalidArgument(field, "超出 1990–2100 年的范围") from None


def units_message(
    rows: list[tuple[str, str, str]], parents: dict[str, str], token: str
) -> tasks_pb2.ListUnitsResponse:
    """A page of units (id, name, category) with their parents."""
    return tasks_pb2.ListUnitsResponse(
        units=[common_pb2.Unit(id=i, name=n, category=c, parent=parents.get(i, "")) for i, n, c in rows],
        next_page_token=token,
    )


def summary_message(s: UnitSummary) -> tasks_pb2.UnitTaskSummary:
    """One unit's live standing."""
    return tasks_pb2.UnitTaskSummary(
        unit=s.unit,
        open_blue=s.open_blue,
        open_yellow=s.open_yellow,
        open_red=s.open_red,
        overdue=s.overdue,
        reported_on_time=s.reported_on_time,
        reported_late=s.reported_late,
        on_time_rate=s.on_time_rate,
        emergency_late=s.emergency_late,
    )


def person_message(p: PersonView) -> tasks_pb2.Person:
    """A person responsible for work, with their tasks when asked for one."""
    return tasks_pb2.Person(
        id=p.id,
        name=p.name,
        unit=p.unit,
        post=p.post,
        leader=p.leader,
        mobile=p.mobile,
        open=p.open,
        yellow=p.yellow,
        red=p.red,
        tasks=[task_message(t) for t in p.tasks],
    )


def notice_message(done: NoticeImported) -> tasks_pb2.ImportHolidayNoticeResponse:
    """What an imported notice decides and changed."""
    fields = asdict(done) | {"holidays": dates(done.holidays), "workdays": dates(done.workdays)}
    return tasks_pb2.ImportHolidayNoticeResponse(**fields)


def calendar_message(year: CalendarYear) -> tasks_pb2.GetCalendarResponse:
    """A year's working-day calendar in force."""
    source = enum_number(tasks_pb2.CalendarSource.DESCRIPTOR, year.source, field="source")
    fields = asdict(year) | {
        "source": source,
        "holidays": dates(year.holidays),
        "workdays": dates(year.workdays),
    }
    return tasks_pb2.GetCalendarResponse(**fields)


def trend_message(trend: Trend) -> tasks_pb2.GetOverdueTrendResponse:
    """Per unit, the overdue open tasks at each point."""
    return tasks_pb2.GetOverdueTrendResponse(
        year=trend.year,
        period=cast(tasks_pb2.TrendPeriod, enum_number(tasks_pb2.TrendPeriod.DESCRIPTOR, trend.period)),
        points=[stamp_at(t) for t in trend.points],
        units=[tasks_pb2.OverdueSeries(unit=u, name=n, overdue=c) for u, n, c in trend.units],
        as_of=instant(trend.as_of),
    )


def stamp_at(seconds: int) -> Timestamp:
    """A Timestamp of epoch seconds."""
    made = Timestamp()
    made.FromSeconds(seconds)
    return made
