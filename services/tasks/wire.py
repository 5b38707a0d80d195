"""The tasks service's views as the messages of its contract (kaohe.tasks.v1): one function per message.

The servicer (services/tasks/rpc.py) hands each use case's answer to one of these; nothing here reads the
database or decides anything.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from google.type.date_pb2 import Date
from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.protoenum import enum_number
from services.tasks import extensions
from services.tasks.facts import UnitSummary
from services.tasks.holidays import CalendarYear, NoticeImported
from services.tasks.people import PersonView
from services.tasks.use_cases import TaskView


def dates(days: list[str]) -> list[Date]:
    """ISO dates as google.type.Date."""
    return [Date(year=d.year, month=d.month, day=d.day) for d in map(date.fromisoformat, days)]


def task_message(view: TaskView) -> tasks_pb2.Task:
    """A task with its history and parts."""
    data = asdict(view)
    history = data.pop("history")
    parts = data.pop("parts")
    return tasks_pb2.Task(
        **data,
        history=[tasks_pb2.TaskEvent(**e) for e in history],
        parts=[tasks_pb2.TaskPart(**p) for p in parts],
    )


def extension_message(view: extensions.ExtensionView) -> tasks_pb2.Extension:
    """An extension request with its timeline."""
    data = asdict(view)
    timeline = data.pop("timeline")
    return tasks_pb2.Extension(**data, timeline=[tasks_pb2.ExtensionStep(**step) for step in timeline])


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
