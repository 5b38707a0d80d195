"""The tasks service's use cases: each write is one transaction, each read one snapshot."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.common import calendar as cal
from services.common.audit import AuditTrail
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.db import Database
from services.common.errors import (
    FieldViolation,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StaleEtag,
)
from services.common.idempotency import idempotent
from services.common.ranges import check_year
from services.common.scheme import Scheme
from services.common.text import NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, iso, parse_instant, to_epoch
from services.common.vocabulary import COLOURS
from services.tasks import ledger
from services.tasks.domain import (
    OPEN_STATES,
    STATE_LABELS,
    Kind,
    State,
    check_actor,
    holder,
    next_state,
    replay,
)
from services.tasks.facts import TaskFacts
from services.tasks.history import derived, domain_events, due_instant, own_due
from services.tasks.holidays import HolidayDesk
from services.tasks.importing import LedgerImport
from services.tasks.people import (
    PartView,
    check_parts_done,
    check_people_and_parent,
    name_people,
    parts,
    reaches,
    supervises,
)
from services.tasks.progress import REPORTING_KINDS, progress_due
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import audit, requests, task_co_units, tasks

MAX_PAGE = 5000
DEFAULT_PAGE = 200
MAX_TITLE_SEARCH = 200


@dataclass
class EventView:
    seq: int
    kind: str
    at: str
    by: str
    note: str
    rejected: bool
    due_at: str = ""  # an extend's (延期) new due instant


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
    progress_overdue_since: str = ""
    history: list[EventView] = field(default_factory=list)
    responsible: str = ""
    responsible_name: str = ""
    leader: str = ""
    leader_name: str = ""
    parent: str = ""
    parts: list[PartView] = field(default_factory=list)


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode() if last else ""


def decode_token(token: str) -> str:
    if not token:
        return ""
    # Strict: a token with characters outside the alphabet is refused, not read as another one.
    try:
        last = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
        return check_id("page_token", last)
    except (ValueError, UnicodeError, InvalidArgument):
        raise InvalidArgument("page_token", "is not a token this service issued") from None


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


class TasksApp:
    """Everything the tasks service does, over its database and the scheme it runs with.

    Reading and the closed loop are here; the ledger import is `importer`, the facts for the other
    services `facts`.
    """

    def __init__(self, db: Database, scheme: Scheme) -> None:
        self.db = db
        self.scheme = scheme
        self.tz = scheme.tz
        self.calendar = scheme.calendar()
        self.facts = TaskFacts(db, scheme)
        self.audit = AuditTrail(db, audit)
        self.importer = LedgerImport(db, scheme, self.calendar, self.audit)
        self.holidays = HolidayDesk(self)

    def use_scheme(self, scheme: Scheme) -> None:
        """Serves scheme from now on: the same scheme under the holiday notices imported since."""
        self.scheme = scheme
        self.calendar = scheme.calendar()
        self.facts.scheme = scheme
        self.importer.scheme = scheme
        self.importer.calendar = self.calendar

    # ---- reading

    def view_instant(self, at: int) -> str:
        return iso(at, self.tz)

    def task_type_id(self, text: str) -> str:
        """The task type text names by its id or by its name in the scheme; text itself when neither."""
        if not text or text in self.scheme.task_types:
            return text
        named = [t.id for t in self.scheme.task_types.values() if t.name == text]
        return named[0] if len(named) == 1 else text

    def list_units(
        self, *, category: str, page_size_: int, page_token: str
    ) -> tuple[list[tuple[str, str, str]], str]:
        size = page_size(page_size_)
        with self.db.read() as conn:
            rows = repo.list_units(conn, category=category, after=decode_token(page_token), limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return rows, encode_token(rows[-1][0]) if more and rows else ""

    def unit_parents(self, ids: list[str]) -> dict[str, str]:
        """id → parent unit ("" when none) of the units among ids."""
        with self.db.read() as conn:
            return repo.unit_parents(conn, ids)

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
            responsible=row.responsible,
            leader=row.leader,
            parent=row.parent,
        )
        if events is not None:
            view.history = [
                EventView(e.seq, e.kind, iso(e.at, self.tz), e.by, e.note, e.rejected, iso(e.due_at, self.tz))
                for e in events
            ]
            if is_open and task_type and task_type.progress_every and row.assigned_at and row.due_at:
                due = progress_due(
                    assigned_at=row.assigned_at,
                    due_at=row.due_at,
                    every=task_type.progress_every,
                    reported=(e.at for e in events if e.kind in REPORTING_KINDS),
                    now=from_epoch(at, self.tz),
                    calendar=self.calendar,
                    tz=self.tz,
                )
                view.next_progress_due = due.next_due.isoformat() if due.next_due else ""
                view.progress_overdue_since = due.overdue_since.isoformat() if due.overdue_since else ""
        return view

    def with_progress(self, conn: Any, rows: list[repo.TaskRow], *, at: int) -> list[TaskView]:
        """Views of rows with their progress deadlines, reading the history only of tasks that owe reports."""
        owing = [
            r.id
            for r in rows
            if (t := self.scheme.task_types.get(r.task_type)) is not None and t.progress_every is not None
        ]
        events = repo.events_of(conn, owing) if owing else {}
        views = []
        for row in rows:
            view = self.view(row, at=at, events=events.get(row.id, []) if row.id in events else None)
            if row.id in events:
                view.history = []
            views.append(view)
        return views

    def _readable(self, actor: Identity, row: repo.TaskRow, conn: Any) -> None:
        # Another unit's task is, to a department, a task that does not exist: the same words,
        # so that neither its existence nor the unit it belongs to is told. A 乡镇 reads its 村's.
        units = (row.lead_unit, *row.co_units)
        if (
            actor.is_department
            and actor.unit not in units
            and not any(reaches(conn, actor, u) for u in units)
        ):
            raise NotFound(f"task {row.id!r} does not exist")

    def get_task(self, *, actor: Identity, task_id: str, as_of: str = "") -> TaskView:
        at = self.facts.instant(as_of, name="as_of")
        with self.db.read() as conn:
            row = repo.get_task(conn, task_id)
            if row is None:
                raise NotFound(f"task {task_id!r} does not exist")
            self._readable(actor, row, conn)
            events = repo.events_of(conn, [task_id]).get(task_id, [])
            view = self.view(row, at=at, events=events)
            name_people(conn, view)
            view.parts = parts(self, conn, task_id, at=at)
        return view

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
        title: str = "",
    ) -> tuple[list[TaskView], str, int]:
        if actor.is_department:
            if not actor.unit:
                raise PermissionDenied("a department without a unit may not list tasks")
            if unit and unit != actor.unit:
                with self.db.read() as conn:
                    if not reaches(conn, actor, unit):
                        raise PermissionDenied(f"unit {actor.unit} may not list the tasks of unit {unit}")
            unit = unit or actor.unit
        if color and color not in COLOURS:
            raise InvalidArgument("color", "must be blue, yellow or red")
        if state and state not in {s.value for s in State}:
            raise InvalidArgument("state", "must be one of " + ", ".join(s.value for s in State))
        check_year(year)
        title = check_text("title", title.strip(), max_len=MAX_TITLE_SEARCH)
        at = self.facts.instant(as_of, name="as_of")
        due_from, due_before = self.facts.year_bounds(year) if year else (None, None)
        flt = repo.TaskFilter(
            unit=unit,
            state=state,
            color=color,
            task_type=self.task_type_id(task_type),
            due_from=due_from,
            due_before=due_before,
            overdue=overdue,
            title=title,
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
            views = self.with_progress(conn, rows, at=at)
        return views, encode_token(rows[-1].id) if more and rows else "", at

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
        people_and_parent: dict[str, str] | None = None,
    ) -> TaskView:
        given = {k: v for k, v in (people_and_parent or {}).items() if v}
        check_text("note", note, max_len=NOTE_MAX, allow_newlines=True)
        now = datetime.now(UTC).astimezone(self.tz).replace(microsecond=0)
        record = {
            "type": "task",
            "id": task_id or f"T{now:%Y%m%d}-{uuid.uuid4().hex[:8]}",
            "title": title,
            "task_type": self.task_type_id(task_type),
            "lead_unit": lead_unit,
            "co_units": co_units,
            "priority": priority or "normal",
            "assigned_at": now.isoformat(),
            "source": source,
        }
        if due_at:
            record["due_at"] = due_at
        record |= given
        try:
            parsed = ledger.parse_task(record, 0, self.scheme)
        except InvalidArgument as exc:
            raise InvalidArgument(
                [FieldViolation(v.field.removeprefix("line 0: "), v.description) for v in exc.violations]
            ) from None
        # Checked after the request itself: a department may call CreateTask (a 乡镇, for its 村), so
        # an empty request is bad input before it is anybody's permission.
        role = actor.role
        if actor.is_department:
            with self.db.read() as conn:
                # A 乡镇 dispatches (立项、交办) to its own 村.
                role = "supervisor" if supervises(conn, actor, lead_unit) else role
        check_actor(Kind.CREATE, role=role, unit=actor.unit or None, lead_unit=lead_unit, co_units=co_units)

        def work(conn: Any) -> TaskView:
            self._check_units(conn, [parsed.lead_unit, *parsed.co_units])
            check_people_and_parent(conn, actor, parsed)
            if repo.get_task(conn, parsed.id) is not None:
                raise InvalidArgument("id", f"task {parsed.id!r} already exists")
            stamp = to_epoch(now)
            # A given due instant is kept from the start; a computed one waits for the assignment.
            due = (
                due_instant(parsed, scheme=self.scheme, calendar=self.calendar, tz=self.tz)
                if assign_now or parsed.due_at is not None
                else None
            )
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

        request = {
            "id": task_id,
            "title": title,
            "task_type": task_type,
            "lead_unit": lead_unit,
            "co_units": co_units,
            "priority": priority,
            "source": source,
            "due_at": due_at,
            "assign_now": assign_now,
            "note": note,
            **given,
        }
        return self._idempotent(actor, request_id, "CreateTask", request, work)

    def act(
        self,
        *,
        actor: Identity,
        kind: Kind,
        task_id: str,
        etag: str,
        note: str,
        request_id: str,
        due_at: str = "",
    ) -> TaskView:
        """One step of the closed loop; an extend (延期, the office only) carries its new due instant."""
        if kind in (Kind.REJECT, Kind.CANCEL) and not note.strip():
            raise InvalidArgument("note", f"a {kind.value} needs a reason")
        check_text("note", note, max_len=NOTE_MAX, allow_newlines=True)
        check_id("id", task_id)
        extended_to = self._extension(kind, due_at, actor)

        def work(conn: Any) -> TaskView:
            # Without the lock, a concurrent step committed between reading the row and reading the
            # events would be replayed as this one's predecessor: a wrong-state error, not ABORTED.
            repo.lock_task(conn, task_id)
            row = repo.get_task(conn, task_id)
            if row is None:
                raise NotFound(f"task {task_id!r} does not exist")
            over = supervises(conn, actor, row.lead_unit)
            if (
                actor.is_department
                and not over
                and actor.unit != row.lead_unit
                and actor.unit not in row.co_units
            ):
                # Refused (and audited) without naming the unit the task belongs to.
                raise PermissionDenied(f"unit {actor.unit} may not record a {kind.value} on task {task_id!r}")
            if actor.role != INTERNAL_ROLE:
                check_actor(
                    kind,
                    # A 乡镇 is the supervisor of its 村's tasks.
                    role="supervisor" if over else actor.role,
                    unit=actor.unit or None,
                    lead_unit=row.lead_unit,
                    co_units=row.co_units,
                )
            if etag and etag != f'"{row.version}"':
                raise StaleEtag(f'task {task_id} changed since etag {etag}; it is now "{row.version}"')
            if kind == Kind.EXTEND and (row.reported_at is not None or State(row.state) not in OPEN_STATES):
                raise InvalidTransition(f"任务 {task_id} 已反馈或已办结，不能延期（延期只在任务未反馈时）")
            next_state(State(row.state), kind, lenient=False)
            check_parts_done(conn, task_id, kind)
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
                    "due_at": extended_to,
                },
            )
            events = [
                *stored,
                repo.EventRow(seq, task_id, kind.value, at, actor.subject, note, False, extended_to),
            ]
            own = own_due(
                row.record,
                task_type=row.task_type,
                assigned_at=values.get("assigned_at", row.assigned_at),
                scheme=self.scheme,
                calendar=self.calendar,
            )
            try:
                result = replay(
                    domain_events(events, tz=self.tz),
                    lenient=True,
                    due_at=from_epoch(own, self.tz) if own is not None else None,
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
                raise StaleEtag(
                    f"task {task_id} was changed by somebody else at the same time; read it again"
                )
            fresh = repo.get_task(conn, task_id)
            assert fresh is not None
            return self.view(fresh, at=now, events=repo.events_of(conn, [task_id]).get(task_id, []))

        request = {"id": task_id, "etag": etag, "note": note, **({"due_at": due_at} if due_at else {})}
        return self._idempotent(actor, request_id, f"Task.{kind.value}", request, work)

    def _extension(self, kind: Kind, due_at: str, actor: Identity) -> int | None:
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

    def _idempotent(
        self, actor: Identity, request_id: str, method: str, request: dict[str, Any], work: Any
    ) -> TaskView:
        def decode(data: bytes) -> TaskView:
            raw = json.loads(data)
            raw["history"] = [EventView(**e) for e in raw.get("history", [])]
            return TaskView(**raw)

        result: TaskView = idempotent(
            self.db,
            requests,
            caller=actor,
            method=method,
            request_id=request_id,
            request=request,
            work=self.audit.audited(work, actor=actor, method=method, target=lambda view: f"task={view.id}"),
            encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
            decode=decode,
        )
        return result

    def _check_units(self, conn: Any, ids: list[str]) -> None:
        known = repo.units_by_id(conn, ids)
        for unit in ids:
            if unit not in known:
                raise InvalidArgument(
                    "lead_unit" if unit == ids[0] else "co_units", f"unit {unit!r} does not exist"
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
                **{name: value or None for name, value in record.people_and_parent().items()},
            )
        )
        if record.co_units:
            conn.execute(
                task_co_units.insert(), [{"task_id": record.id, "unit_id": u} for u in record.co_units]
            )
