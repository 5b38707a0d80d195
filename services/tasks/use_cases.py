"""The tasks service's use cases: each write is one transaction, each read one snapshot."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from services.common import calendar as cal
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.db import Database, idempotent
from services.common.errors import (
    FieldViolation,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StaleEtag,
)
from services.common.scheme import Scheme
from services.common.timeutil import NO_TIME, from_epoch, iso, parse_instant, to_epoch
from services.tasks import ledger
from services.tasks.domain import (
    OPEN_STATES,
    STATE_LABELS,
    Event,
    Kind,
    State,
    check_actor,
    holder,
    next_state,
    replay,
)
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import requests, task_co_units, task_events, tasks, units

MAX_PAGE = 5000
DEFAULT_PAGE = 200
_PROVISIONAL = 10**15


@dataclass
class EventView:
    seq: int
    kind: str
    at: str
    by: str
    note: str
    rejected: bool


@dataclass
class TaskView:
    """A task as people see it: colour and outcome as of an instant, who holds it."""

    id: str
    title: str
    task_type: str
    task_type_name: str
    source: str
    lead_unit: str
    co_units: list[str]
    priority: str
    state: str
    state_label: str
    assigned_at: str
    due_at: str
    reported_at: str
    color: str
    outcome: str
    holder: str
    next_progress_due: str
    created_at: str
    updated_at: str
    etag: str
    as_of: str
    history: list[EventView] = field(default_factory=list)


@dataclass
class UnitSummary:
    unit: str
    open_blue: int = 0
    open_yellow: int = 0
    open_red: int = 0
    overdue: int = 0
    reported_on_time: int = 0
    reported_late: int = 0
    on_time_rate: float = -1.0
    emergency_late: int = 0
    late_by_type: dict[str, int] = field(default_factory=dict)


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode() if last else ""


def decode_token(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token", "is not a token this service issued") from None


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


class TasksApp:
    """Everything the tasks service does, over its database and the scheme it runs with."""

    def __init__(self, db: Database, scheme: Scheme) -> None:
        self.db = db
        self.scheme = scheme
        self.tz = scheme.tz
        self.calendar = scheme.calendar()

    # ---- reading

    def year_bounds(self, year: int) -> tuple[int, int]:
        start = datetime(year, 1, 1, tzinfo=self.tz)
        end = datetime(year + 1, 1, 1, tzinfo=self.tz)
        return to_epoch(start), to_epoch(end)

    def view_instant(self, at: int) -> str:
        return iso(at, self.tz)

    def instant(self, text: str, *, name: str) -> int:
        return to_epoch(parse_instant(text, field=name)) if text else int(time.time())

    def list_units(
        self, *, category: str, page_size_: int, page_token: str
    ) -> tuple[list[tuple[str, str, str]], str]:
        size = page_size(page_size_)
        with self.db.read() as conn:
            rows = repo.list_units(conn, category=category, after=decode_token(page_token), limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return rows, encode_token(rows[-1][0]) if more and rows else ""

    def view(self, row: repo.TaskRow, *, at: int, events: list[repo.EventRow] | None = None) -> TaskView:
        task_type = self.scheme.task_types.get(row.task_type)
        state = State(row.state)
        is_open = state in OPEN_STATES and state != State.CREATED and row.reported_at is None
        color = ""
        if is_open and row.assigned_at is not None and row.due_at is not None:
            color = cal.colour(
                at=from_epoch(at, self.tz),
                assigned_at=from_epoch(row.assigned_at, self.tz),
                due_at=from_epoch(row.due_at, self.tz),
                yellow_threshold=self.scheme.timeliness.yellow_threshold,
            )
        outcome = ""
        if row.reported_at is not None and row.due_at is not None:
            outcome = "on_time" if row.reported_at <= row.due_at else "late"
        view = TaskView(
            id=row.id,
            title=row.title,
            task_type=row.task_type,
            task_type_name=task_type.name if task_type else row.task_type,
            source=row.source,
            lead_unit=row.lead_unit,
            co_units=list(row.co_units),
            priority=row.priority,
            state=row.state,
            state_label=STATE_LABELS[state],
            assigned_at=iso(row.assigned_at, self.tz),
            due_at=iso(row.due_at, self.tz),
            reported_at=iso(row.reported_at, self.tz),
            color=color,
            outcome=outcome,
            holder=holder(state, lead_unit=row.lead_unit),
            next_progress_due="",
            created_at=iso(row.created_at, self.tz),
            updated_at=iso(row.updated_at, self.tz),
            etag=f'"{row.version}"',
            as_of=iso(at, self.tz),
        )
        if events is not None:
            view.history = [
                EventView(e.seq, e.kind, iso(e.at, self.tz), e.by, e.note, e.rejected) for e in events
            ]
            if is_open and task_type and task_type.progress_every and row.assigned_at and row.due_at:
                view.next_progress_due = self._next_progress(row, task_type.progress_every, events)
        return view

    def _next_progress(self, row: repo.TaskRow, every: Any, events: list[repo.EventRow]) -> str:
        assert row.assigned_at is not None and row.due_at is not None
        deadlines = cal.progress_deadlines(
            assigned_at=from_epoch(row.assigned_at, self.tz),
            due_at=from_epoch(row.due_at, self.tz),
            every=every,
            calendar=self.calendar,
            tz=self.tz,
        )
        last = max((e.at for e in events if e.kind in ("progress", "report")), default=row.assigned_at)
        upcoming = [d for d in deadlines if to_epoch(d) > last]
        return upcoming[0].isoformat() if upcoming else ""

    def _readable(self, actor: Identity, row: repo.TaskRow) -> None:
        if actor.is_department and actor.unit != row.lead_unit and actor.unit not in row.co_units:
            raise PermissionDenied(
                f"unit {actor.unit} may not read task {row.id}: it belongs to {row.lead_unit}"
            )

    def get_task(self, *, actor: Identity, task_id: str, as_of: str = "") -> TaskView:
        at = self.instant(as_of, name="as_of")
        with self.db.read() as conn:
            row = repo.get_task(conn, task_id)
            if row is None:
                raise NotFound(f"task {task_id!r} does not exist")
            self._readable(actor, row)
            events = repo.events_of(conn, [task_id]).get(task_id, [])
        return self.view(row, at=at, events=events)

    def list_tasks(
        self,
        *,
        actor: Identity,
        unit: str = "",
        state: str = "",
        color: str = "",
        task_type: str = "",
        year: int = 0,
        overdue: bool = False,
        as_of: str = "",
        page_size_: int = 0,
        page_token: str = "",
    ) -> tuple[list[TaskView], str, int]:
        if actor.is_department:
            if not actor.unit:
                raise PermissionDenied("a department without a unit may not list tasks")
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not list the tasks of unit {unit}")
            unit = actor.unit
        if color and color not in ("blue", "yellow", "red"):
            raise InvalidArgument("color", "must be blue, yellow or red")
        if state and state not in {s.value for s in State}:
            raise InvalidArgument("state", "must be one of " + ", ".join(s.value for s in State))
        if year and not 1990 <= year <= 2100:
            raise InvalidArgument("year", "must lie between 1990 and 2100")
        at = self.instant(as_of, name="as_of")
        due_from, due_before = self.year_bounds(year) if year else (None, None)
        flt = repo.TaskFilter(
            unit=unit,
            state=state,
            color=color,
            task_type=task_type,
            due_from=due_from,
            due_before=due_before,
            overdue=overdue,
        )
        size = page_size(page_size_)
        with self.db.read() as conn:
            rows = repo.list_tasks(
                conn,
                flt,
                at=at,
                yellow_threshold=self.scheme.timeliness.yellow_threshold,
                after=decode_token(page_token),
                limit=size + 1,
            )
        more = len(rows) > size
        rows = rows[:size]
        return [self.view(r, at=at) for r in rows], encode_token(rows[-1].id) if more and rows else "", at

    def lookup_tasks(self, ids: list[str]) -> list[repo.TaskRow]:
        with self.db.read() as conn:
            return list(repo.tasks_by_id(conn, ids).values())

    # ---- the closed loop

    def create_task(
        self,
        *,
        actor: Identity,
        request_id: str,
        task_id: str,
        title: str,
        task_type: str,
        lead_unit: str,
        co_units: list[str],
        priority: str,
        source: str,
        due_at: str,
        assign_now: bool,
        note: str,
    ) -> TaskView:
        check_actor(
            Kind.CREATE, role=actor.role, unit=actor.unit or None, lead_unit=lead_unit, co_units=co_units
        )
        now = datetime.now(UTC).astimezone(self.tz).replace(microsecond=0)
        record = {
            "type": "task",
            "id": task_id or f"T{now:%Y%m%d}-{uuid.uuid4().hex[:8]}",
            "title": title,
            "task_type": task_type,
            "lead_unit": lead_unit,
            "co_units": co_units,
            "priority": priority or "normal",
            "assigned_at": now.isoformat(),
            "source": source,
        }
        if due_at:
            record["due_at"] = due_at
        try:
            parsed = ledger.parse_task(record, 0, self.scheme)
        except InvalidArgument as exc:
            raise InvalidArgument(
                [FieldViolation(v.field.removeprefix("line 0: "), v.description) for v in exc.violations]
            ) from None

        def work(conn: Any) -> TaskView:
            self._check_units(conn, [parsed.lead_unit, *parsed.co_units])
            if repo.get_task(conn, parsed.id) is not None:
                raise InvalidArgument("id", f"task {parsed.id!r} already exists")
            stamp = to_epoch(now)
            # A given due instant is kept from the start; a computed one waits for the assignment.
            due = self._due(parsed) if assign_now or parsed.due_at is not None else None
            try:
                self._insert_task(
                    conn,
                    parsed,
                    state=State.ASSIGNED if assign_now else State.CREATED,
                    due=due,
                    assigned=stamp if assign_now else None,
                    stamp=stamp,
                    reported=None,
                    cancelled=None,
                    closed=None,
                )
            except IntegrityError:
                # Another create (or an import) took the id after the check above.
                raise InvalidArgument("id", f"task {parsed.id!r} already exists") from None
            kinds = [Kind.CREATE, Kind.ASSIGN] if assign_now else [Kind.CREATE]
            for kind in kinds:
                repo.insert_event(
                    conn,
                    {
                        "task_id": parsed.id,
                        "kind": kind.value,
                        "at": stamp,
                        "by": actor.subject,
                        "note": note,
                        "rejected": False,
                        "recorded_at": stamp,
                    },
                )
            row = repo.get_task(conn, parsed.id)
            assert row is not None
            return self.view(row, at=stamp, events=repo.events_of(conn, [parsed.id]).get(parsed.id, []))

        return self._idempotent(_scoped(request_id, actor.subject), "CreateTask", work)

    def act(
        self, *, actor: Identity, kind: Kind, task_id: str, etag: str, note: str, request_id: str
    ) -> TaskView:
        if kind in (Kind.REJECT, Kind.CANCEL) and not note.strip():
            raise InvalidArgument("note", f"a {kind.value} needs a reason")

        def work(conn: Any) -> TaskView:
            # Without the lock, a concurrent step committed between reading the row and reading the
            # events would be replayed as this one's predecessor: a wrong-state error, not ABORTED.
            repo.lock_task(conn, task_id)
            row = repo.get_task(conn, task_id)
            if row is None:
                raise NotFound(f"task {task_id!r} does not exist")
            if actor.role != INTERNAL_ROLE:
                check_actor(
                    kind,
                    role=actor.role,
                    unit=actor.unit or None,
                    lead_unit=row.lead_unit,
                    co_units=row.co_units,
                )
            if etag and etag != f'"{row.version}"':
                raise StaleEtag(f'task {task_id} changed since etag {etag}; it is now "{row.version}"')
            next_state(State(row.state), kind, lenient=False)
            now = int(time.time())
            stored = repo.events_of(conn, [task_id]).get(task_id, [])
            # An event recorded in the same second as the last one still comes after it.
            at = max(now, max((e.at for e in stored), default=now))
            values: dict[str, Any] = {"updated_at": now}
            if kind == Kind.ASSIGN:
                assigned = from_epoch(at, self.tz)
                values["assigned_at"] = at
                if row.due_at is None:
                    spec = self.scheme.task_types[row.task_type]
                    values["due_at"] = to_epoch(
                        cal.due_at(assigned_at=assigned, limit=spec.limit, calendar=self.calendar, tz=self.tz)
                    )
            seq = repo.insert_event(
                conn,
                {
                    "task_id": task_id,
                    "kind": kind.value,
                    "at": at,
                    "by": actor.subject,
                    "note": note,
                    "rejected": False,
                    "recorded_at": now,
                },
            )
            events = [*stored, repo.EventRow(seq, task_id, kind.value, at, actor.subject, note, False)]
            result = replay(self._domain_events(events), lenient=True)
            values |= self._derived(result)
            repo.set_rejected(
                conn,
                {
                    e.seq: e.seq in result.rejected
                    for e in events
                    if e.kind == "report" and e.rejected != (e.seq in result.rejected)
                },
            )
            if not repo.update_task(conn, task_id, expected_version=row.version, values=values):
                raise StaleEtag(
                    f"task {task_id} was changed by somebody else at the same time; read it again"
                )
            fresh = repo.get_task(conn, task_id)
            assert fresh is not None
            return self.view(fresh, at=now, events=repo.events_of(conn, [task_id]).get(task_id, []))

        return self._idempotent(_scoped(request_id, actor.subject, task_id), f"Task.{kind.value}", work)

    def _idempotent(self, request_id: str, method: str, work: Any) -> TaskView:
        def decode(data: bytes) -> TaskView:
            raw = json.loads(data)
            raw["history"] = [EventView(**e) for e in raw.get("history", [])]
            return TaskView(**raw)

        result: TaskView = idempotent(
            self.db,
            requests,
            request_id=request_id,
            method=method,
            work=work,
            encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
            decode=decode,
        )
        return result

    def _domain_events(self, events: list[repo.EventRow]) -> list[Event]:
        return [
            Event(seq=e.seq, kind=Kind(e.kind), at=from_epoch(e.at, self.tz), by=e.by, note=e.note)
            for e in events
        ]

    @staticmethod
    def _derived(result: Any) -> dict[str, Any]:
        def epoch(moment: datetime | None) -> int | None:
            return to_epoch(moment) if moment else None

        return {
            "state": result.state.value,
            "reported_at": epoch(result.reported_at),
            "cancelled_at": epoch(result.cancelled_at),
            "closed_at": epoch(result.closed_at),
        }

    def _check_units(self, conn: Any, ids: list[str]) -> None:
        known = repo.units_by_id(conn, ids)
        for unit in ids:
            if unit not in known:
                raise InvalidArgument(
                    "lead_unit" if unit == ids[0] else "co_units", f"unit {unit!r} does not exist"
                )

    def _due(self, record: ledger.TaskRecord) -> int:
        if record.due_at is not None:
            return to_epoch(record.due_at)
        spec = self.scheme.task_types[record.task_type]
        return to_epoch(
            cal.due_at(assigned_at=record.assigned_at, limit=spec.limit, calendar=self.calendar, tz=self.tz)
        )

    def _insert_task(
        self,
        conn: Any,
        record: ledger.TaskRecord,
        *,
        state: State,
        due: int | None,
        assigned: int | None,
        stamp: int,
        reported: int | None,
        cancelled: int | None,
        closed: int | None,
    ) -> None:
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
                reported_at=reported,
                cancelled_at=cancelled,
                closed_at=closed,
                created_at=stamp,
                updated_at=stamp,
                version=1,
                record=record.canonical(),
            )
        )
        if record.co_units:
            conn.execute(
                task_co_units.insert(), [{"task_id": record.id, "unit_id": u} for u in record.co_units]
            )

    # ---- the ledger import

    def import_ledger(
        self, lines: list[tuple[int, str]], *, validate_only: bool
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing: every line is checked before anything is written."""
        parsed = ledger.parse_lines(lines, self.scheme)
        try:
            with self.db.write() as conn:
                repo.lock_imports(conn)
                plan = self._plan(conn, parsed)
                if not validate_only:
                    self._apply(conn, plan)
                else:
                    conn.rollback()
        except IntegrityError:
            # A task created through the API under one of the file's ids after the plan was made.
            raise StaleEtag("the ledger changed during the import; import the file again") from None
        return plan.created, plan.unchanged

    def _plan(self, conn: Any, parsed: ledger.Parsed) -> _Plan:
        plan = _Plan()
        unit_ids = (
            {u.id for u in parsed.units}
            | {t.lead_unit for t in parsed.tasks}
            | {c for t in parsed.tasks for c in t.co_units}
        )
        stored_units = repo.units_by_id(conn, unit_ids)
        known_units: dict[str, int] = {u: 0 for u in stored_units}
        for unit in parsed.units:
            canonical = (unit.name, unit.category)
            if unit.id in stored_units or unit.id in plan.new_units:
                before = stored_units.get(unit.id) or (
                    plan.new_units[unit.id].name,
                    plan.new_units[unit.id].category,
                )
                if before != canonical:
                    raise _line(
                        unit.line,
                        "id",
                        f"unit {unit.id!r} is already recorded with other values "
                        f"({before[0]}, {before[1]}); a changed record under a known id is refused",
                    )
                plan.unchanged["unit"] += 1
                continue
            plan.new_units[unit.id] = unit
            known_units[unit.id] = unit.line
            plan.created["unit"] += 1

        task_ids = {t.id for t in parsed.tasks} | {e.task for e in parsed.events}
        stored_tasks = repo.tasks_by_id(conn, task_ids)
        for task in parsed.tasks:
            for name, unit_id in [("lead_unit", task.lead_unit), *(("co_units", c) for c in task.co_units)]:
                if unit_id not in known_units or known_units[unit_id] > task.line:
                    raise _line(
                        task.line,
                        name,
                        f"unit {unit_id!r} does not exist (neither stored nor on an earlier line)",
                    )
            stored_task = stored_tasks.get(task.id)
            earlier = plan.new_tasks.get(task.id)
            before_task = stored_task.record if stored_task else earlier.canonical() if earlier else None
            if before_task is not None:
                if before_task != task.canonical():
                    raise _line(
                        task.line,
                        "id",
                        f"task {task.id!r} is already recorded with other values; "
                        "a changed record under a known id is refused",
                    )
                plan.unchanged["task"] += 1
                continue
            plan.new_tasks[task.id] = task
            plan.created["task"] += 1

        stored_events = repo.events_of(conn, [t for t in task_ids if t in stored_tasks])
        # An event is identified by its task, kind and instant; by and note are what it says.
        seen: dict[tuple[str, str, int], tuple[str, str, int]] = {
            (tid, e.kind, e.at): (e.by, e.note, 0) for tid, evs in stored_events.items() for e in evs
        }
        new_events: dict[str, list[tuple[int, ledger.EventRecord]]] = {}
        for position, event in enumerate(parsed.events):
            owner = plan.new_tasks.get(event.task)
            if owner is None and event.task not in stored_tasks:
                raise _line(
                    event.line,
                    "task",
                    f"task {event.task!r} does not exist (neither stored nor on an earlier line)",
                )
            if owner is not None and owner.line > event.line:
                raise _line(
                    event.line, "task", f"task {event.task!r} is defined only later, on line {owner.line}"
                )
            key = event.key()
            if key in seen:
                by, note, line = seen[key]
                if (by, note) != (event.by, event.note):
                    where = f"on line {line}" if line else "already recorded"
                    raise _line(
                        event.line,
                        "note" if by == event.by else "by",
                        f"the {event.kind} of task {event.task!r} at {event.at.isoformat()} is {where} "
                        f"with other values (by {by!r}, note {note!r}); a changed record is refused",
                    )
                plan.unchanged["task_event"] += 1
                continue
            seen[key] = (event.by, event.note, event.line)
            new_events.setdefault(event.task, []).append((_PROVISIONAL + position, event))
            plan.created["task_event"] += 1

        for task_id in sorted(set(new_events) | set(plan.new_tasks)):
            plan.replays[task_id] = self._replay_import(
                task_id,
                plan.new_tasks.get(task_id),
                stored_tasks.get(task_id),
                stored_events.get(task_id, []),
                new_events.get(task_id, []),
            )
        plan.new_events = new_events
        plan.stored_events = stored_events
        plan.stored_tasks = stored_tasks
        return plan

    def _replay_import(
        self,
        task_id: str,
        new: ledger.TaskRecord | None,
        stored: repo.TaskRow | None,
        stored_events: list[repo.EventRow],
        new_events: list[tuple[int, ledger.EventRecord]],
    ) -> Any:
        if new is not None:
            assigned = new.assigned_at
            history = [
                Event(seq=_PROVISIONAL - 2, kind=Kind.CREATE, at=assigned),
                Event(seq=_PROVISIONAL - 1, kind=Kind.ASSIGN, at=assigned),
            ]
        else:
            assert stored is not None
            if stored.assigned_at is None:
                line = new_events[0][1].line
                raise _line(line, "task", f"task {task_id!r} has not been assigned (交办) yet")
            assigned = from_epoch(stored.assigned_at, self.tz)
            history = self._domain_events(stored_events)
        lines = {}
        for seq, event in new_events:
            if event.at < assigned:
                raise _line(
                    event.line,
                    "at",
                    f"{event.at.isoformat()} is before the task's assigned_at {assigned.isoformat()}",
                )
            history.append(Event(seq=seq, kind=event.kind, at=event.at, by=event.by, note=event.note))
            lines[seq] = event.line
        try:
            return replay(history, lenient=True)
        except InvalidTransition:
            ordered = sorted(history, key=lambda e: (e.at, e.seq))
            for end in range(1, len(ordered) + 1):
                try:
                    replay(ordered[:end], lenient=True)
                except InvalidTransition as exc:
                    culprit = ordered[end - 1]
                    where = lines.get(culprit.seq)
                    # replay() names the event by its sequence number, which for a line of the file is
                    # a provisional one nobody has seen: name it by kind and instant instead.
                    rule = str(exc.__cause__ or exc)
                    message = f"{culprit.kind} at {culprit.at.isoformat()} on task {task_id}: {rule}"
                    if where is None:
                        raise InvalidArgument("task", message) from None
                    raise _line(where, "kind", message) from None
            raise

    def _apply(self, conn: Any, plan: _Plan) -> None:
        stamp = int(time.time())
        if plan.new_units:
            conn.execute(
                units.insert(),
                [
                    {"id": u.id, "name": u.name, "category": u.category, "created_at": stamp}
                    for u in plan.new_units.values()
                ],
            )
        task_rows, co_rows = [], []
        for task in plan.new_tasks.values():
            result = plan.replays[task.id]
            task_rows.append(
                {
                    "id": task.id,
                    "title": task.title,
                    "task_type": task.task_type,
                    "source": task.source,
                    "lead_unit": task.lead_unit,
                    "priority": task.priority,
                    "assigned_at": to_epoch(task.assigned_at),
                    "due_at": self._due(task),
                    "due_given": task.due_at is not None,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "version": 1,
                    "record": task.canonical(),
                    **self._derived(result),
                }
            )
            co_rows += [{"task_id": task.id, "unit_id": u} for u in task.co_units]
        if task_rows:
            conn.execute(tasks.insert(), task_rows)
        if co_rows:
            conn.execute(task_co_units.insert(), co_rows)
        event_rows = []
        for task in plan.new_tasks.values():
            at = to_epoch(task.assigned_at)
            event_rows += [
                {
                    "task_id": task.id,
                    "kind": k,
                    "at": at,
                    "by": "import",
                    "note": "",
                    "rejected": False,
                    "recorded_at": stamp,
                }
                for k in ("create", "assign")
            ]
        # Events go in file order, so the database's sequence keeps the recorded order.
        ordered = sorted((seq, event) for events in plan.new_events.values() for seq, event in events)
        for seq, event in ordered:
            event_rows.append(
                {
                    "task_id": event.task,
                    "kind": event.kind.value,
                    "at": to_epoch(event.at),
                    "by": event.by,
                    "note": event.note,
                    "rejected": seq in plan.replays[event.task].rejected,
                    "recorded_at": stamp,
                }
            )
        if event_rows:
            conn.execute(task_events.insert(), event_rows)
        for task_id, events in plan.stored_events.items():
            if task_id not in plan.new_events:
                continue
            result = plan.replays[task_id]
            repo.set_rejected(
                conn,
                {
                    e.seq: e.seq in result.rejected
                    for e in events
                    if e.kind == "report" and e.rejected != (e.seq in result.rejected)
                },
            )
            row = plan.stored_tasks[task_id]
            if not repo.update_task(
                conn,
                task_id,
                expected_version=row.version,
                values={"updated_at": stamp, **self._derived(result)},
            ):
                raise StaleEtag(f"task {task_id} changed during the import; import the file again")

    # ---- facts for scoring and the live standing

    def timeliness_facts(
        self,
        *,
        due_from: int,
        due_before: int,
        as_of: int,
        chunk_size: int,
        assigned_from: int = 0,
        assigned_before: int = 0,
    ) -> Iterator[dict[str, Any]]:
        with self.db.read() as conn:
            for part in repo.timeliness_rows(
                conn,
                due_from=due_from,
                due_before=due_before,
                as_of=as_of,
                chunk_size=chunk_size or 50000,
                assigned_from=assigned_from,
                assigned_before=assigned_before,
            ):
                if not part:
                    continue
                (
                    is_lead,
                    task_id,
                    unit,
                    priority,
                    assigned,
                    due,
                    reported,
                    cancelled,
                    task_type,
                    due_given,
                ) = zip(*part, strict=True)
                columns: dict[str, Any] = {
                    "task_id": task_id,
                    "unit": unit,
                    "is_lead": is_lead,
                    "priority": priority,
                    "assigned_at": _or_no_time(assigned),
                    "due_at": due,
                    "reported_at": _or_no_time(reported),
                    "cancelled_at": _or_no_time(cancelled),
                    "task_type": task_type,
                    "due_given": due_given,
                }
                yield columns

    def summarize(self, *, year: int, as_of: str, unit: str) -> tuple[list[UnitSummary], int]:
        """Per unit: open tasks by colour, overdue, this year's reports on time and late."""
        at = self.instant(as_of, name="as_of")
        year = year or from_epoch(at, self.tz).year
        due_from, due_before = self.year_bounds(year)
        with self.db.read() as conn:
            rows = repo.summary_rows(conn, unit=unit)
            all_units = [u for u, _, _ in repo.list_units(conn, category="", after="", limit=1_000_000)]
        summaries = {u: UnitSummary(u) for u in ([unit] if unit else all_units)}
        if not rows:
            return list(summaries.values()), at
        unit_col = np.array([r[0] for r in rows], dtype=object)
        types = np.array([r[1] for r in rows], dtype=object)
        state = np.array([r[2] for r in rows], dtype=object)
        assigned = np.array([r[3] if r[3] is not None else 0 for r in rows], dtype=np.int64)
        due = np.array([r[4] for r in rows], dtype=np.int64)
        reported = np.array([r[5] if r[5] is not None else NO_TIME for r in rows], dtype=np.int64)
        has_report = reported != NO_TIME
        live = ~np.isin(state, ["closed", "cancelled", "created"])
        is_open = live & ~has_report
        colours = cal.colours_many(
            at=at, assigned_at=assigned, due_at=due, yellow_threshold=self.scheme.timeliness.yellow_threshold
        )
        in_year = (due >= due_from) & (due < due_before) & (due <= at) & (state != "cancelled")
        on_time = in_year & has_report & (reported <= due)
        late = in_year & has_report & (reported > due)
        urgent_types = [t.id for t in self.scheme.task_types.values() if t.limit.unit in ("minutes", "hours")]
        emergency = (
            np.isin(types, urgent_types)
            & ~np.isin(state, ["cancelled", "created"])
            & (due <= at)
            & (due > at - 86400)
            & (~has_report | (reported > due))
        )
        codes, index = np.unique(unit_col, return_inverse=True)

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(index[mask], minlength=len(codes))

        blue, yellow, red = (count(is_open & (colours == c)) for c in ("blue", "yellow", "red"))
        ontime_n, late_n, emergency_n = count(on_time), count(late), count(emergency)
        for i, code in enumerate(codes):
            summary = summaries.setdefault(str(code), UnitSummary(str(code)))
            summary.open_blue, summary.open_yellow, summary.open_red = (
                int(blue[i]),
                int(yellow[i]),
                int(red[i]),
            )
            summary.overdue = int(red[i])
            summary.reported_on_time, summary.reported_late = int(ontime_n[i]), int(late_n[i])
            reported_n = summary.reported_on_time + summary.reported_late
            summary.on_time_rate = summary.reported_on_time / reported_n if reported_n else -1.0
            summary.emergency_late = int(emergency_n[i])
        for unit_code, task_type in zip(unit_col[late], types[late], strict=True):
            by_type = summaries[str(unit_code)].late_by_type
            by_type[str(task_type)] = by_type.get(str(task_type), 0) + 1
        return list(summaries.values()), at


@dataclass
class _Plan:
    created: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    new_units: dict[str, ledger.UnitRecord] = field(default_factory=dict)
    new_tasks: dict[str, ledger.TaskRecord] = field(default_factory=dict)
    new_events: dict[str, list[tuple[int, ledger.EventRecord]]] = field(default_factory=dict)
    replays: dict[str, Any] = field(default_factory=dict)
    stored_events: dict[str, list[repo.EventRow]] = field(default_factory=dict)
    stored_tasks: dict[str, repo.TaskRow] = field(default_factory=dict)


def _scoped(request_id: str, *scope: str) -> str:
    """The request id as stored: bound to who sent it and what it acts on.

    Unbound, another caller reusing an id (or guessing one) would get the first caller's
    answer back, a view of a task it may not read, without its own request ever running.
    """
    if not request_id:
        return ""
    return hashlib.sha256("\0".join((*scope, request_id)).encode()).hexdigest()


def _or_no_time(column: tuple[int | None, ...]) -> list[int]:
    return [NO_TIME if t is None else t for t in column]


def _line(line: int, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"line {line}: {name}", rule)])
