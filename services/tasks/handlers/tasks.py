"""The closed loop's writes: CreateTask (立项、交办) and each step on a task, one transaction each."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.common import calendar as cal
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.errors import InvalidArgument, InvalidTransition, NotFound, PermissionDenied, StaleEtag
from services.common.text import NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, parse_instant, to_epoch
from services.common.vocabulary import TASK_EVENT_KINDS, label_of
from services.tasks import ledger
from services.tasks.domain import OPEN_STATES, Kind, State, check_actor, next_state, replay
from services.tasks.handlers.commands import ActOnTask, CreateTask
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.reading import task_type_id
from services.tasks.handlers.views import EventView, TaskView, task_view
from services.tasks.history import derived, domain_events, due_instant, own_due
from services.tasks.people import check_parts_done, check_people_and_parent, supervises
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import task_co_units, tasks


def create_task(ctx: TasksContext, cmd: CreateTask) -> TaskView:
    """A new task, created (and assigned when assign_now) by its office or its 乡镇."""
    given = {k: v for k, v in cmd.people_and_parent.items() if v}
    check_text("note", cmd.note, max_len=NOTE_MAX, allow_newlines=True)
    now = from_epoch(ctx.clock(), ctx.tz)
    fields: dict[str, Any] = {
        "id": cmd.task_id or f"T{now:%Y%m%d}-{uuid.uuid4().hex[:8]}",
        "title": cmd.title,
        "task_type": task_type_id(ctx.scheme, cmd.task_type),
        "lead_unit": cmd.lead_unit,
        "co_units": cmd.co_units,
        "priority": cmd.priority or "normal",
        "assigned_at": now.isoformat(),
        "source": cmd.source,
    }
    if cmd.due_at:
        fields["due_at"] = cmd.due_at
    # The same validator as a ledger line's task, its violations naming the request's fields.
    parsed = ledger.task_fields(fields | given, ctx.scheme, line=0, at="")
    # Checked after the request itself: a department may call CreateTask (a 乡镇, for its 村), so
    # an empty request is bad input before it is anybody's permission.
    actor, role = cmd.actor, cmd.actor.role
    if actor.is_department:
        with ctx.db.read(primary=True) as conn:
            # A 乡镇 dispatches (立项、交办) to its own 村.
            role = "supervisor" if supervises(conn, actor, cmd.lead_unit) else role
    check_actor(
        Kind.CREATE, role=role, unit=actor.unit or None, lead_unit=cmd.lead_unit, co_units=cmd.co_units
    )

    def work(conn: Any) -> TaskView:
        _check_units(conn, [parsed.lead_unit, *parsed.co_units])
        check_people_and_parent(conn, actor, parsed)
        if repo.get_task(conn, parsed.id) is not None:
            raise InvalidArgument("id", f"任务 {parsed.id!r} 已存在")
        return _store_new(ctx, conn, cmd, parsed, stamp=to_epoch(now))

    request = {
        "id": cmd.task_id,
        "title": cmd.title,
        "task_type": cmd.task_type,
        "lead_unit": cmd.lead_unit,
        "co_units": cmd.co_units,
        "priority": cmd.priority,
        "source": cmd.source,
        "due_at": cmd.due_at,
        "assign_now": cmd.assign_now,
        "note": cmd.note,
        **given,
    }
    return ctx.once(cmd, "CreateTask", request, work, view=TaskView, target=_task_target, decode=_stored_task)


def _store_new(
    ctx: TasksContext, conn: Any, cmd: CreateTask, parsed: ledger.TaskRecord, *, stamp: int
) -> TaskView:
    # A given due instant is kept from the start; a computed one waits for the assignment.
    due = (
        due_instant(parsed, scheme=ctx.scheme, calendar=ctx.calendar, tz=ctx.tz)
        if cmd.assign_now or parsed.due_at is not None
        else None
    )
    try:
        insert_task(
            conn,
            parsed,
            state=State.ASSIGNED if cmd.assign_now else State.CREATED,
            due=due,
            assigned=stamp if cmd.assign_now else None,
            stamp=stamp,
        )
    except IntegrityError:
        # Another create (or an import) took the id after the check.
        raise InvalidArgument("id", f"任务 {parsed.id!r} 已存在") from None
    for kind in [Kind.CREATE, Kind.ASSIGN] if cmd.assign_now else [Kind.CREATE]:
        repo.insert_event(
            conn,
            {
                "task_id": parsed.id,
                "kind": kind.value,
                "at": stamp,
                "by": cmd.actor.subject,
                "note": cmd.note,
                "rejected": False,
                "recorded_at": stamp,
            },
        )
    row = repo.get_task(conn, parsed.id)
    assert row is not None
    return task_view(ctx, row, at=stamp, events=repo.events_of(conn, [parsed.id]).get(parsed.id, []))


def act(ctx: TasksContext, cmd: ActOnTask) -> TaskView:
    """One step of the closed loop; an extend (延期, the office only) carries its new due instant."""
    kind, task_id = cmd.kind, cmd.task_id
    if kind in (Kind.REJECT, Kind.CANCEL) and not cmd.note.strip():
        raise InvalidArgument("note", f"{label_of(TASK_EVENT_KINDS, kind.value)}须写明理由")
    check_text("note", cmd.note, max_len=NOTE_MAX, allow_newlines=True)
    check_id("id", task_id)
    extended_to = _extension(kind, cmd.due_at, cmd.actor)

    def work(conn: Any) -> TaskView:
        # Without the lock, a concurrent step committed between reading the row and reading the
        # events would be replayed as this one's predecessor: a wrong-state error, not ABORTED.
        repo.lock_task(conn, task_id)
        row = repo.get_task(conn, task_id)
        if row is None:
            raise NotFound(f"任务 {task_id!r} 不存在")
        _check_step(conn, cmd, row)
        now = ctx.clock()
        _record_step(ctx, conn, cmd, row, now=now, extended_to=extended_to)
        fresh = repo.get_task(conn, task_id)
        assert fresh is not None
        return task_view(ctx, fresh, at=now, events=repo.events_of(conn, [task_id]).get(task_id, []))

    request = {
        "id": task_id,
        "etag": cmd.etag,
        "note": cmd.note,
        **({"due_at": cmd.due_at} if cmd.due_at else {}),
    }
    method = f"Task.{kind.value}"
    return ctx.once(cmd, method, request, work, view=TaskView, target=_task_target, decode=_stored_task)


def _check_step(conn: Any, cmd: ActOnTask, row: repo.TaskRow) -> None:
    """The actor may take the step on row, at its etag, from its state."""
    actor, kind, task_id = cmd.actor, cmd.kind, cmd.task_id
    over = supervises(conn, actor, row.lead_unit)
    if actor.is_department and not over and actor.unit != row.lead_unit and actor.unit not in row.co_units:
        # Refused (and audited) without naming the unit the task belongs to.
        step = label_of(TASK_EVENT_KINDS, kind.value)
        raise PermissionDenied(f"单位 {actor.unit} 不能在任务 {task_id!r} 上记录{step}")
    if actor.role != INTERNAL_ROLE:
        check_actor(
            kind,
            # A 乡镇 is the supervisor of its 村's tasks.
            role="supervisor" if over else actor.role,
            unit=actor.unit or None,
            lead_unit=row.lead_unit,
            co_units=row.co_units,
        )
    if cmd.etag and cmd.etag != f'"{row.version}"':
        raise StaleEtag(f'任务 {task_id} 自 etag {cmd.etag} 以来已被改动；现为 "{row.version}"')
    if kind == Kind.EXTEND and (row.reported_at is not None or State(row.state) not in OPEN_STATES):
        raise InvalidTransition(f"任务 {task_id} 已反馈或已办结，不能延期（延期只在任务未反馈时）")
    next_state(State(row.state), kind, lenient=False)
    check_parts_done(conn, task_id, kind)


def _record_step(
    ctx: TasksContext, conn: Any, cmd: ActOnTask, row: repo.TaskRow, *, now: int, extended_to: int | None
) -> None:
    """The step's event, and the task's state replayed from its whole history."""
    kind, task_id, by = cmd.kind, cmd.task_id, cmd.actor.subject
    stored = repo.events_of(conn, [task_id]).get(task_id, [])
    # An event recorded in the same second as the last one still comes after it.
    at = max(now, max((e.at for e in stored), default=now))
    values: dict[str, Any] = {"updated_at": now}
    if kind == Kind.ASSIGN:
        values["assigned_at"] = at
        if row.due_at is None:
            spec = ctx.scheme.task_types[row.task_type]
            due = cal.due_at(
                assigned_at=from_epoch(at, ctx.tz), limit=spec.limit, calendar=ctx.calendar, tz=ctx.tz
            )
            values["due_at"] = to_epoch(due)
    event = {"task_id": task_id, "kind": kind.value, "at": at, "by": by, "note": cmd.note}
    seq = repo.insert_event(conn, {**event, "rejected": False, "recorded_at": now, "due_at": extended_to})
    events = [*stored, repo.EventRow(seq, task_id, kind.value, at, by, cmd.note, False, extended_to)]
    own = own_due(
        row.record,
        task_type=row.task_type,
        assigned_at=values.get("assigned_at", row.assigned_at),
        scheme=ctx.scheme,
        calendar=ctx.calendar,
    )
    try:
        result = replay(
            domain_events(events, tz=ctx.tz),
            lenient=True,
            due_at=from_epoch(own, ctx.tz) if own is not None else None,
        )
    except InvalidTransition as exc:
        if kind != Kind.EXTEND:
            raise
        # The replay names the event by its sequence number; the rule is what the office needs.
        raise InvalidTransition(str(exc.__cause__ or exc)) from None
    values |= derived(result)
    repo.set_rejected(
        conn,
        {
            e.seq: e.seq in result.rejected
            for e in events
            if e.kind == "report" and e.rejected != (e.seq in result.rejected)
        },
    )
    if not repo.update_task(conn, task_id, expected_version=row.version, values=values):
        raise StaleEtag(f"任务 {task_id} 同时被他人改动；请重新读取")


def _extension(kind: Kind, due_at: str, actor: Identity) -> int | None:
    """The new due instant of an extend as epoch seconds (None for other kinds), checked as given."""
    if kind != Kind.EXTEND:
        if due_at:
            raise InvalidArgument("due_at", f"只有延期（extend）带新的截止时间 due_at，{kind.value} 不带")
        return None
    if actor.role not in ("office", INTERNAL_ROLE):
        raise PermissionDenied(f"只有考核办（office）可以批准延期（extend）；角色 {actor.role} 不可以")
    if not due_at:
        raise InvalidArgument("due_at", "延期（extend）须给出新的截止时间 due_at")
    return to_epoch(parse_instant(due_at, field="due_at"))


def _stored_task(data: bytes) -> TaskView:
    """A TaskView as a request's stored answer holds it, its history too."""
    raw = json.loads(data)
    raw["history"] = [EventView(**e) for e in raw.get("history", [])]
    return TaskView(**raw)


def _task_target(view: TaskView) -> str:
    return f"task={view.id}"


def _check_units(conn: Any, ids: list[str]) -> None:
    known = repo.units_by_id(conn, ids)
    for unit in ids:
        if unit not in known:
            raise InvalidArgument("lead_unit" if unit == ids[0] else "co_units", f"单位 {unit!r} 不存在")


def insert_task(
    conn: Any, record: ledger.TaskRecord, *, state: State, due: int | None, assigned: int | None, stamp: int
) -> None:
    """A new task's row (and its co-units) as created: nothing reported, cancelled or closed yet."""
    conn.execute(
        tasks.insert().values(
            id=record.id,
            title=record.title,
            task_type=record.task_type,
            source=record.source,
            lead_unit=record.lead_unit,
            priority=record.priority,
            state=state.value,
            assigned_at=assigned,
            due_at=due,
            due_given=record.due_at is not None,
            reported_at=None,
            cancelled_at=None,
            closed_at=None,
            created_at=stamp,
            updated_at=stamp,
            version=1,
            record=record.canonical(),
            **{name: value or None for name, value in record.people_and_parent().items()},
        )
    )
    if record.co_units:
        conn.execute(task_co_units.insert(), [{"task_id": record.id, "unit_id": u} for u in record.co_units])
