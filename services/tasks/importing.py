"""The ledger import of the tasks service: every line checked against the store, then written at once."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.calendar import WorkCalendar
from services.common.db import Database
from services.common.errors import DomainError, FieldViolation, InvalidArgument, InvalidTransition, StaleEtag
from services.common.scheme import Scheme
from services.common.timeutil import from_epoch, to_epoch
from services.tasks import decisions, ledger
from services.tasks.domain import Event, Kind, replay
from services.tasks.history import derived, domain_events, due_instant
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import task_co_units, task_events, tasks, units

# Sequence numbers for a file's events until the database gives them theirs: above any stored one.
_PROVISIONAL = 10**15


class LedgerImport:
    """Imports of ledger lines into one tasks database, under one scheme."""

    def __init__(self, db: Database, scheme: Scheme, calendar: WorkCalendar, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit
        self.scheme = scheme
        self.tz: tzinfo = scheme.tz
        self.calendar = calendar
        self.decisions = decisions.ImportDecisions(db)

    def import_ledger(
        self, lines: list[tuple[int, str]], *, validate_only: bool, actor: Identity, import_id: str = ""
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing: every line is checked before anything is written.

        Under an import_id (the tasks half of a two-service import), the decision "committed" is
        written in the same transaction: it is what scoring's recovery asks about.
        """
        decided = import_id if not validate_only else ""
        try:
            parsed = ledger.parse_lines(lines, self.scheme)
            with self.db.write() as conn:
                repo.lock_imports(conn)
                if decided:
                    self.decisions.commit_in(conn, decided)
                plan = self._plan(conn, parsed)
                if validate_only:
                    conn.rollback()
                    return plan.created, plan.unchanged
                self._apply(conn, plan)
                self.audit.changed(
                    conn, actor=actor, method="ImportLedger", target=f"created={dict(plan.created)}"
                )
        except IntegrityError:
            # A task created through the API under one of the file's ids after the plan was made.
            if decided:
                self.decisions.refused(decided)
            raise StaleEtag("the ledger changed during the import; import the file again") from None
        except DomainError:
            if decided:
                self.decisions.refused(decided)
            raise
        return plan.created, plan.unchanged

    def begin(self, import_id: str) -> None:
        """The first message of an import's tasks half has arrived (see ImportDecisions.begin)."""
        decisions.check_id(import_id, required=True)
        self.decisions.begin(import_id)

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
            history = domain_events(stored_events, tz=self.tz)
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
                    "due_at": due_instant(task, scheme=self.scheme, calendar=self.calendar, tz=self.tz),
                    "due_given": task.due_at is not None,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "version": 1,
                    "record": task.canonical(),
                    **derived(result),
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
                values={"updated_at": stamp, **derived(result)},
            ):
                raise StaleEtag(f"task {task_id} changed during the import; import the file again")


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


def _line(line: int, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"line {line}: {name}", rule)])
