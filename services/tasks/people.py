"""People and levels in the ledger: 责任人 and their load, a 乡镇's reach over its 村, 任务分解's rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from services.common.auth import Identity
from services.common.db import Database
from services.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from services.common.text import check_id
from services.tasks.domain import Kind
from services.tasks.storage import repository as repo

if TYPE_CHECKING:
    from services.tasks.handlers.views import TaskView
    from services.tasks.ledger import TaskRecord


class PeopleReader(Protocol):
    """What listing people needs of the tasks application: its database and its task views."""

    db: Database

    def with_progress(self, conn: Any, rows: list[repo.TaskRow], *, at: int) -> list[TaskView]: ...


@dataclass
class PartView:
    id: str
    title: str
    lead_unit: str
    state: str
    state_label: str
    color: str
    due_at: str
    reported_at: str


@dataclass
class PersonView:
    id: str
    name: str
    unit: str
    post: str
    leader: bool
    mobile: str
    open: int = 0
    yellow: int = 0
    red: int = 0
    tasks: list[TaskView] = field(default_factory=list)


def below(conn: Any, actor: Identity) -> frozenset[str]:
    """The units under a department's unit (a 乡镇's 村): its reach beyond its own; none for other roles."""
    if not actor.is_department or not actor.unit:
        return frozenset()
    return frozenset(repo.units_below(conn, actor.unit))


def reaches(conn: Any, actor: Identity, unit: str) -> bool:
    """Whether actor may see unit's work: everyone but a department any; a department its own and below."""
    if not actor.is_department:
        return True
    return unit == actor.unit or unit in below(conn, actor)


def trend_units(conn: Any, actor: Identity, unit: str) -> tuple[str, ...]:
    """The units an overdue trend shows (none: every unit).

    A department: its own and the units under it (a 乡镇 with its 村), or one of those it names; another
    unit is refused. Other roles: the unit named, or every unit.
    """
    if not actor.is_department:
        return (unit,) if unit else ()
    if unit and unit != actor.unit:
        if not reaches(conn, actor, unit):
            raise PermissionDenied(f"单位 {actor.unit} 不能查看单位 {unit} 的逾期趋势")
        return (unit,)
    return (actor.unit, *sorted(below(conn, actor)))


def supervises(conn: Any, actor: Identity, lead_unit: str) -> bool:
    """A 乡镇's account is the supervisor of the tasks of its 村: it dispatches, checks and closes them."""
    return actor.is_department and bool(actor.unit) and lead_unit in below(conn, actor)


def check_parts_done(conn: Any, task_id: str, kind: Kind) -> None:
    """A task with parts is reported once every part is reported, closed once every part is closed.

    A cancelled part (撤销) is no longer work to wait for.
    """
    if kind not in (Kind.REPORT, Kind.CLOSE):
        return
    parts = [p for p in repo.parts_of(conn, task_id) if p.cancelled_at is None]
    if kind == Kind.REPORT:
        waiting = [p.id for p in parts if p.reported_at is None and p.closed_at is None]
    else:
        waiting = [p.id for p in parts if p.closed_at is None]
    if waiting:
        done = "反馈" if kind == Kind.REPORT else "销号"
        raise InvalidTransition(
            f"任务 {task_id} 有分解的子任务尚未{done}：{'、'.join(waiting)}；全部子任务{done}后才能{done}"
        )


def parts(view: Callable[[repo.TaskRow], TaskView], conn: Any, task_id: str) -> list[PartView]:
    """The parts of a task as its page shows their progress (each seen through view)."""
    views = [view(row) for row in repo.parts_of(conn, task_id)]
    return [
        PartView(v.id, v.title, v.lead_unit, v.state, v.state_label, v.color, v.due_at, v.reported_at)
        for v in views
    ]


def name_people(conn: Any, view: TaskView) -> None:
    """Fills in the names of the task's 责任人 and 包保领导."""
    found = repo.persons_by_id(conn, [p for p in (view.responsible, view.leader) if p])
    if view.responsible in found:
        view.responsible_name = found[view.responsible].name
    if view.leader in found:
        view.leader_name = found[view.leader].name


def list_persons(
    app: PeopleReader, *, actor: Identity, unit: str, person_id: str
) -> tuple[list[PersonView], int]:
    """The people actor may see (of unit when given; one person with their tasks when person_id is)."""
    if unit:
        check_id("unit", unit)
    if person_id:
        check_id("id", person_id)
    at = int(time.time())
    with app.db.read() as conn:
        if unit and not reaches(conn, actor, unit):
            raise PermissionDenied(f"单位 {actor.unit} 不能查看单位 {unit} 的人员")
        if person_id:
            found = repo.persons_by_id(conn, [person_id]).get(person_id)
            # Another unit's person is, to a department, a person that does not exist.
            if found is None or not reaches(conn, actor, found.unit) or (unit and found.unit != unit):
                raise NotFound(f"责任人 {person_id!r} 不存在")
            rows = [found]
        else:
            scope: list[str] | None = [unit] if unit else None
            if scope is None and actor.is_department:
                scope = [actor.unit, *sorted(below(conn, actor))]
            rows = repo.list_persons(conn, units_in=scope)
        tasks = repo.person_tasks(conn, [p.id for p in rows])
        views = app.with_progress(conn, tasks, at=at)
    people = [
        PersonView(p.id, p.name, p.unit, p.post, p.leader, p.mobile if _may_see_mobile(actor, p) else "")
        for p in rows
    ]
    by_id = {p.id: p for p in people}
    for view in views:
        for person in {view.responsible, view.leader} - {""}:
            if person not in by_id:
                continue
            shown = by_id[person]
            if view.color:
                shown.open += 1
                shown.yellow += view.color == "yellow"
                shown.red += view.color == "red"
            if person_id:
                shown.tasks.append(view)
    return people, at


def _may_see_mobile(actor: Identity, person: repo.PersonRow) -> bool:
    """Mobile numbers only to the office and to the person's own unit."""
    return actor.role == "office" or (actor.is_department and actor.unit == person.unit)


def check_people_and_parent(conn: Any, actor: Identity, task: TaskRecord) -> None:
    """A new task's 责任人 is of its lead unit, its 包保领导 a leader, its parent a readable open task."""
    found = repo.persons_by_id(conn, [p for p in (task.responsible, task.leader) if p])
    if task.responsible:
        person = found.get(task.responsible)
        if person is None:
            raise InvalidArgument("responsible", f"责任人 {task.responsible!r} 不存在")
        if person.unit != task.lead_unit:
            raise InvalidArgument(
                "responsible", f"责任人 {task.responsible!r} 属于单位 {person.unit!r}，必须是牵头单位的人员"
            )
    if task.leader:
        person = found.get(task.leader)
        if person is None:
            raise InvalidArgument("leader", f"领导 {task.leader!r} 不存在")
        if not person.leader:
            raise InvalidArgument("leader", f"{task.leader!r} 不是领导（其 person 记录没有 leader: true）")
    if task.parent:
        parent = repo.get_task(conn, task.parent)
        units = (parent.lead_unit, *parent.co_units) if parent is not None else ()
        if parent is None or not any(reaches(conn, actor, u) for u in units):
            raise InvalidArgument("parent", f"上级任务 {task.parent!r} 不存在")
        if parent.reported_at is not None or parent.closed_at is not None or parent.cancelled_at is not None:
            raise FailedPrecondition(f"上级任务 {task.parent} 已反馈、销号或撤销，不能再分解")
