"""The ledger import of the tasks service: streamed in batches, staged, then written set-based at once.

The lines arrive in batches and are checked in file order as they come, each batch against the store
and against what the file said before (kept in the transaction's staging tables, services/tasks/staging):
no line is held beyond its batch. Once the stream ends, each touched task's history is replayed (a
bounded chunk of tasks at a time) and the staged rows move into the real tables — all in one
transaction, so a refused line anywhere stores nothing.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, bindparam, literal, or_, select, union, update
from sqlalchemy.exc import IntegrityError

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.calendar import WorkCalendar
from services.common.db import Database, among, chunks, lookup_size
from services.common.errors import DomainError, FieldViolation, InvalidArgument, InvalidTransition, StaleEtag
from services.common.jsonlines import loads_line
from services.common.scheme import Scheme
from services.common.timeutil import from_epoch, to_epoch
from services.tasks import decisions, ledger, staging
from services.tasks.domain import Event, Kind, Replay, replay
from services.tasks.history import derived, domain_events, due_instant, own_due
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import persons, task_co_units, task_events, tasks, units

# Sequence numbers for a file's events until the database gives them theirs: above any stored one.
_PROVISIONAL = 10**15
# Tasks replayed and written together once the file has been read.
CHUNK = 2000
# Tasks named by events before any line defined them, kept to tell "defined only later" from "missing".
MAX_MISSING = 10_000
Lines = Iterable[list[tuple[int, str]]]
# A staged event's kind (checked when its line was read) → its Kind, without Enum's lookup.
_KINDS = {kind.value: kind for kind in Kind}
# Limits whose due instant is the end of a day counted from the local date of assignment.
_BY_DAY = frozenset({"working_days", "calendar_days", "months"})
# What identifies a known event's content: by, note, the line it came from (0: stored), an extend's due_at.
_Seen = tuple[str, str, int, int | None]


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
        self, batches: Lines, *, validate_only: bool, actor: Identity, import_id: str = ""
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing: every line is checked before anything is committed.

        batches are the file's (line, text) pairs in file order, a bounded list at a time. Under an
        import_id (the tasks half of a two-service import), the decision "committed" is written in the
        same transaction: it is what scoring's recovery asks about.
        """
        decided = import_id if not validate_only else ""
        try:
            with self.db.write() as conn:
                repo.lock_imports(conn)
                if decided:
                    self.decisions.commit_in(conn, decided)
                staging.create(conn)
                run = _Run(self, conn)
                for batch in batches:
                    run.batch(batch)
                run.finish()
                staging.drop(conn)
                if validate_only:
                    conn.rollback()
                    return run.created, run.unchanged
                self.audit.changed(
                    conn, actor=actor, method="ImportLedger", target=f"created={dict(run.created)}"
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
        return run.created, run.unchanged

    def begin(self, import_id: str) -> None:
        """The first message of an import's tasks half has arrived (see ImportDecisions.begin)."""
        decisions.check_id(import_id, required=True)
        self.decisions.begin(import_id)


class _Run:
    """One import in progress: what must be global is compact (units; the first line of a missing task)."""

    def __init__(self, importer: LedgerImport, conn: Connection) -> None:
        self.importer = importer
        self.conn = conn
        self.scheme = importer.scheme
        self.tz = importer.tz
        self.created: Counter[str] = Counter()
        self.unchanged: Counter[str] = Counter()
        # unit id → (name, category, line it was defined on; 0 when stored), for the units seen so far.
        self.units: dict[str, tuple[str, str, int]] = {}
        # A task an event named before any line defined it: its first such line.
        self.missing: dict[str, int] = {}
        self.stamp = int(time.time())
        # (task type, local date of assignment) → due instant, for the limits counted in whole days.
        self.due_by_day: dict[tuple[str, date], int] = {}
        self.batches = 0
        # unit id → its parent ("" when none), and person id → (values, line; 0 when stored), as seen so far.
        self.unit_parents: dict[str, str] = {}
        self.persons: dict[str, tuple[tuple[str, str, str, bool, str], int]] = {}

    # ---- checking, batch by batch

    def batch(self, lines: list[tuple[int, str]]) -> None:
        records: list[ledger.UnitRecord | ledger.TaskRecord | ledger.EventRecord | ledger.PersonRecord] = []
        for line, text in lines:
            obj = loads_line(text, line=line)
            if not isinstance(obj, dict):
                raise _line(line, "json", "must be a JSON object")
            kind = obj.get("type")
            if kind == "unit":
                records.append(ledger.parse_unit(obj, line))
            elif kind == "task":
                records.append(ledger.parse_task(obj, line, self.scheme))
            elif kind == "task_event":
                records.append(ledger.parse_event(obj, line))
            elif kind == "person":
                records.append(ledger.parse_person(obj, line))
            else:
                raise _line(line, "type", f"{kind!r} is not a record type of the tasks service")
        records.sort(key=lambda r: r.line)
        self._load_units(records)
        self._load_persons(records)
        defined = {r.id for r in records if isinstance(r, ledger.TaskRecord)}
        named = {r.task for r in records if isinstance(r, ledger.EventRecord)}
        parents = {r.parent for r in records if isinstance(r, ledger.TaskRecord) and r.parent}
        known = self._known_tasks(defined | named | parents)
        # A task this batch creates has no events before it (an earlier one would have been refused): only
        # the others' events are looked up.
        seen = self._known_events(named - (defined - known.keys()))
        new_units: list[dict[str, Any]] = []
        new_tasks: list[dict[str, Any]] = []
        new_events: list[dict[str, Any]] = []
        new_persons: list[dict[str, Any]] = []
        for record in records:
            if isinstance(record, ledger.UnitRecord):
                self._unit(record, new_units)
            elif isinstance(record, ledger.TaskRecord):
                self._task(record, known, new_tasks)
            elif isinstance(record, ledger.PersonRecord):
                self._person(record, new_persons)
            else:
                self._event(record, known, seen, new_events)
        staging.insert(self.conn, units, new_units)
        staging.insert(self.conn, persons, new_persons)
        staging.insert(self.conn, import_tasks, new_tasks)
        staging.insert(self.conn, import_events, new_events)
        self.batches += 1
        if self.batches & (self.batches - 1) == 0:
            # Statistics as the tables grow (after 1, 2, 4, … batches): lookups by id keep to the index.
            staging.analyze(self.conn)

    def _load_units(self, records: list[Any]) -> None:
        wanted = set()
        for r in records:
            if isinstance(r, ledger.UnitRecord):
                wanted.add(r.id)
                if r.parent:
                    wanted.add(r.parent)
            elif isinstance(r, ledger.PersonRecord):
                wanted.add(r.unit)
            elif isinstance(r, ledger.TaskRecord):
                wanted.add(r.lead_unit)
                wanted.update(r.co_units)
        wanted -= self.units.keys()
        for unit_id, (name, category) in repo.units_by_id(self.conn, wanted).items():
            self.units[unit_id] = (name, category, 0)
        self.unit_parents |= repo.unit_parents(self.conn, wanted - self.unit_parents.keys())

    def _known_tasks(self, ids: set[str]) -> dict[str, tuple[str, int]]:
        """id → (canonical record, line it was defined on; 0 when stored) of the tasks among ids known."""
        found: dict[str, tuple[str, int]] = {}
        conn = self.conn
        for part in chunks(sorted(ids), lookup_size(conn)):
            stored = select(tasks.c.id, tasks.c.record).where(among(conn, tasks.c.id, part))
            for row in conn.execute(stored).all():
                found[row.id] = (row.record, 0)
            query = select(import_tasks.c.id, import_tasks.c.record, import_tasks.c.line)
            for staged in conn.execute(query.where(among(conn, import_tasks.c.id, part))).all():
                found[staged.id] = (staged.record, staged.line)
        return found

    def _known_events(self, task_ids: set[str]) -> dict[tuple[str, str, int], _Seen]:
        """(task, kind, at) → (by, note, line or 0 when stored, due_at) of the events of task_ids known."""
        seen: dict[tuple[str, str, int], _Seen] = {}
        conn = self.conn
        for part in chunks(sorted(task_ids), lookup_size(conn)):
            e = task_events.c
            stored = select(e.task_id, e.kind, e.at, e.by, e.note, e.due_at)
            for row in conn.execute(stored.where(among(conn, task_events.c.task_id, part))).all():
                seen[(row.task_id, row.kind, row.at)] = (row.by, row.note, 0, row.due_at)
            staged = select(import_events).where(among(conn, import_events.c.task_id, part))
            for row in conn.execute(staged).all():
                seen[(row.task_id, row.kind, row.at)] = (row.by, row.note, row.line, row.due_at)
        return seen

    def _unit(self, unit: ledger.UnitRecord, new: list[dict[str, Any]]) -> None:
        canonical = (unit.name, unit.category)
        before = self.units.get(unit.id)
        self._check_unit_parent(unit, known=before is not None)
        if before is not None:
            if before[:2] != canonical:
                raise _line(
                    unit.line,
                    "id",
                    f"unit {unit.id!r} is already recorded with other values "
                    f"({before[0]}, {before[1]}); a changed record under a known id is refused",
                )
            self.unchanged["unit"] += 1
            return
        self.units[unit.id] = (unit.name, unit.category, unit.line)
        self.unit_parents[unit.id] = unit.parent
        new.append(
            {
                "id": unit.id,
                "name": unit.name,
                "category": unit.category,
                "created_at": self.stamp,
                "parent": unit.parent or None,
            }
        )
        self.created["unit"] += 1

    def _task(
        self, task: ledger.TaskRecord, known: dict[str, tuple[str, int]], new: list[dict[str, Any]]
    ) -> None:
        for name, unit_id in [("lead_unit", task.lead_unit), *(("co_units", c) for c in task.co_units)]:
            if unit_id not in self.units:
                raise _line(
                    task.line,
                    name,
                    f"unit {unit_id!r} does not exist (neither stored nor on an earlier line)",
                )
        if task.id in self.missing:
            line = self.missing[task.id]
            raise _line(line, "task", f"task {task.id!r} is defined only later, on line {task.line}")
        self._check_people_and_parent(task, known)
        canonical = task.canonical()
        before = known.get(task.id)
        if before is not None:
            if before[0] != canonical:
                raise _line(
                    task.line,
                    "id",
                    f"task {task.id!r} is already recorded with other values; "
                    "a changed record under a known id is refused",
                )
            self.unchanged["task"] += 1
            return
        known[task.id] = (canonical, task.line)
        new.append(
            {
                "id": task.id,
                "line": task.line,
                "title": task.title,
                "task_type": task.task_type,
                "source": task.source,
                "lead_unit": task.lead_unit,
                "co_units": json.dumps(list(task.co_units), ensure_ascii=False) if task.co_units else "[]",
                "priority": task.priority,
                "assigned_at": to_epoch(task.assigned_at),
                "due_at": self._due(task),
                "due_given": task.due_at is not None,
                "record": canonical,
                **{name: value or None for name, value in task.people_and_parent().items()},
            }
        )
        self.created["task"] += 1

    def _due(self, task: ledger.TaskRecord) -> int:
        """due_instant of task; under a limit of whole days it depends on the date only, so it is kept."""
        if task.due_at is not None or self.scheme.task_types[task.task_type].limit.unit not in _BY_DAY:
            return due_instant(task, scheme=self.scheme, calendar=self.importer.calendar, tz=self.tz)
        key = (task.task_type, task.assigned_at.astimezone(self.tz).date())
        due = self.due_by_day.get(key)
        if due is None:
            due = due_instant(task, scheme=self.scheme, calendar=self.importer.calendar, tz=self.tz)
            self.due_by_day[key] = due
        return due

    def _event(
        self,
        event: ledger.EventRecord,
        known: dict[str, tuple[str, int]],
        seen: dict[tuple[str, str, int], _Seen],
        new: list[dict[str, Any]],
    ) -> None:
        if event.task not in known:
            self.missing.setdefault(event.task, event.line)
            if len(self.missing) > MAX_MISSING:
                # A file of events for tasks nobody defined: refused now, not held to the end.
                self._refuse_missing()
            return
        key = event.key()
        due = to_epoch(event.due_at) if event.due_at is not None else None
        if key in seen:
            by, note, line, seen_due = seen[key]
            if (by, note, seen_due) != (event.by, event.note, due):
                where = f"on line {line}" if line else "already recorded"
                name = "by" if by != event.by else "note" if note != event.note else "due_at"
                raise _line(
                    event.line,
                    name,
                    f"the {event.kind} of task {event.task!r} at {event.at.isoformat()} is {where} "
                    f"with other values (by {by!r}, note {note!r}); a changed record is refused",
                )
            self.unchanged["task_event"] += 1
            return
        seen[key] = (event.by, event.note, event.line, due)
        new.append(
            {
                "line": event.line,
                "task_id": event.task,
                "kind": event.kind.value,
                "at": key[2],
                "by": event.by,
                "note": event.note,
                "rejected": False,
                "due_at": due,
            }
        )
        self.created["task_event"] += 1

    # ---- once the file is read: replay, then the staged rows into the real tables

    def finish(self) -> None:
        if self.missing:
            self._refuse_missing()
        staging.analyze(self.conn)
        touched = union(select(import_tasks.c.id.label("id")), select(import_events.c.task_id.label("id")))
        ids = list(self.conn.execute(select(touched.subquery().c.id).order_by("id")).scalars().all())
        for part in chunks(ids, CHUNK):
            self._replay_chunk(list(part))
        self._check_parts()
        conn = self.conn
        # The create and assign of each new task, then the file's events in file order (the database's
        # sequence keeps the recorded order).
        for kind in ("create", "assign"):
            conn.execute(
                task_events.insert().from_select(
                    ["task_id", "kind", "at", "by", "note", "rejected", "recorded_at"],
                    select(
                        import_tasks.c.id,
                        literal(kind),
                        import_tasks.c.assigned_at,
                        literal("import"),
                        literal(""),
                        literal(False),
                        literal(self.stamp),
                    ).order_by(import_tasks.c.line),
                )
            )
        conn.execute(
            task_events.insert().from_select(
                ["task_id", "kind", "at", "by", "note", "rejected", "recorded_at", "due_at"],
                select(
                    import_events.c.task_id,
                    import_events.c.kind,
                    import_events.c.at,
                    import_events.c.by,
                    import_events.c.note,
                    import_events.c.rejected,
                    literal(self.stamp),
                    import_events.c.due_at,
                ).order_by(import_events.c.line),
            )
        )

    def _refuse_missing(self) -> None:
        task_id, line = min(self.missing.items(), key=lambda item: item[1])
        raise _line(line, "task", f"task {task_id!r} does not exist (neither stored nor on an earlier line)")

    def _replay_chunk(self, ids: list[str]) -> None:
        conn = self.conn
        # ids are a sorted run of the touched tasks: the staged rows of exactly these are a range.
        first, last = ids[0], ids[-1]
        query = select(import_tasks).where(import_tasks.c.id >= first, import_tasks.c.id <= last)
        new = {row.id: row for row in conn.execute(query).all()}
        stored_ids = [i for i in ids if i not in new]
        stored = repo.tasks_by_id(conn, stored_ids)
        stored_events = repo.events_of(conn, stored_ids)
        staged: dict[str, list[Any]] = {}
        staged_c = import_events.c
        query = select(import_events).where(staged_c.task_id >= first, staged_c.task_id <= last)
        query = query.order_by(staged_c.line)
        for row in conn.execute(query).all():
            staged.setdefault(row.task_id, []).append(row)
        task_rows: list[dict[str, Any]] = []
        co_rows: list[dict[str, Any]] = []
        rejected_lines: list[int] = []
        for task_id in ids:
            result = self._replay(
                task_id,
                new.get(task_id),
                stored.get(task_id),
                stored_events.get(task_id, []),
                staged.get(task_id, []),
            )
            rejected_lines += [seq - _PROVISIONAL for seq in result.rejected if seq >= _PROVISIONAL]
            if task_id in new:
                row = new[task_id]
                task_rows.append(
                    {
                        "id": row.id,
                        "title": row.title,
                        "task_type": row.task_type,
                        "source": row.source,
                        "lead_unit": row.lead_unit,
                        "priority": row.priority,
                        "assigned_at": row.assigned_at,
                        "due_at": row.due_at,
                        "due_given": row.due_given,
                        "created_at": self.stamp,
                        "updated_at": self.stamp,
                        "version": 1,
                        "record": row.record,
                        "responsible": row.responsible,
                        "leader": row.leader,
                        "parent": row.parent,
                        **derived(result),
                    }
                )
                if row.co_units != "[]":
                    co_rows += [{"task_id": row.id, "unit_id": u} for u in json.loads(row.co_units)]
                continue
            events = stored_events.get(task_id, [])
            repo.set_rejected(
                conn,
                {
                    e.seq: e.seq in result.rejected
                    for e in events
                    if e.kind == "report" and e.rejected != (e.seq in result.rejected)
                },
            )
            before = stored[task_id]
            if not repo.update_task(
                conn,
                task_id,
                expected_version=before.version,
                values={"updated_at": self.stamp, **derived(result)},
            ):
                raise StaleEtag(f"task {task_id} changed during the import; import the file again")
        staging.insert(conn, tasks, task_rows)
        staging.insert(conn, task_co_units, co_rows)
        if rejected_lines:
            conn.execute(
                update(import_events).where(import_events.c.line == bindparam("l")).values(rejected=True),
                [{"l": line} for line in rejected_lines],
            )

    def _replay(
        self,
        task_id: str,
        new: Any,
        stored: repo.TaskRow | None,
        stored_events: list[repo.EventRow],
        staged: list[Any],
    ) -> Replay:
        if new is not None:
            assigned = from_epoch(new.assigned_at, self.tz)
            history = [
                Event(seq=_PROVISIONAL - 2, kind=Kind.CREATE, at=assigned),
                Event(seq=_PROVISIONAL - 1, kind=Kind.ASSIGN, at=assigned),
            ]
            own = new.due_at
        else:
            assert stored is not None
            if stored.assigned_at is None:
                raise _line(staged[0].line, "task", f"task {task_id!r} has not been assigned (交办) yet")
            assigned = from_epoch(stored.assigned_at, self.tz)
            history = domain_events(stored_events, tz=self.tz)
            own = own_due(
                stored.record,
                task_type=stored.task_type,
                assigned_at=stored.assigned_at,
                scheme=self.scheme,
                calendar=self.importer.calendar,
            )
        due = from_epoch(own, self.tz) if own is not None else None
        lines = {}
        for row in staged:
            at = from_epoch(row.at, self.tz)
            if at < assigned:
                raise _line(
                    row.line,
                    "at",
                    f"{at.isoformat()} is before the task's assigned_at {assigned.isoformat()}",
                )
            seq = _PROVISIONAL + row.line
            extended = from_epoch(row.due_at, self.tz) if row.due_at is not None else None
            history.append(
                Event(seq=seq, kind=_KINDS[row.kind], at=at, by=row.by, note=row.note, due_at=extended)
            )
            lines[seq] = row.line
        try:
            return replay(history, lenient=True, due_at=due)
        except InvalidTransition:
            ordered = sorted(history, key=lambda e: (e.at, e.seq))
            for end in range(1, len(ordered) + 1):
                try:
                    replay(ordered[:end], lenient=True, due_at=due)
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

    # ---- people and levels (FORMATS.md: unit.parent, person, task.responsible / leader / parent)

    def _load_persons(self, records: list[Any]) -> None:
        wanted = set()
        for r in records:
            if isinstance(r, ledger.PersonRecord):
                wanted.add(r.id)
            elif isinstance(r, ledger.TaskRecord):
                wanted.update(p for p in (r.responsible, r.leader) if p)
        wanted -= self.persons.keys()
        for person in repo.persons_by_id(self.conn, wanted).values():
            values = (person.name, person.unit, person.post, person.leader, person.mobile)
            self.persons[person.id] = (values, 0)

    def _check_unit_parent(self, unit: ledger.UnitRecord, *, known: bool) -> None:
        # A parent must exist before the unit names it, and a stored unit never changes: no cycle can form.
        if known:
            before = self.unit_parents.get(unit.id, "")
            if before != unit.parent:
                raise _line(
                    unit.line,
                    "parent",
                    f"单位 {unit.id!r} 已登记的上级是 {before or '（无）'!r}，与本行不同；"
                    "已有代码的记录不能修改 (changed record)",
                )
            return
        if unit.parent and unit.parent not in self.units:
            raise _line(unit.line, "parent", f"上级单位 {unit.parent!r} 不存在（既未登记，也不在前面的行中）")

    def _person(self, person: ledger.PersonRecord, new: list[dict[str, Any]]) -> None:
        if person.unit not in self.units:
            raise _line(person.line, "unit", f"单位 {person.unit!r} 不存在（既未登记，也不在前面的行中）")
        before = self.persons.get(person.id)
        if before is not None:
            if before[0] != person.values():
                where = f"第 {before[1]} 行" if before[1] else "已登记"
                raise _line(
                    person.line,
                    "id",
                    f"责任人 {person.id!r} {where}的信息与本行不同；已有代码的记录不能修改 (changed record)",
                )
            self.unchanged["person"] += 1
            return
        self.persons[person.id] = (person.values(), person.line)
        new.append(
            {
                "id": person.id,
                "name": person.name,
                "unit_id": person.unit,
                "post": person.post,
                "leader": person.leader,
                "mobile": person.mobile,
                "created_at": self.stamp,
            }
        )
        self.created["person"] += 1

    def _check_people_and_parent(self, task: ledger.TaskRecord, known: dict[str, tuple[str, int]]) -> None:
        if task.responsible:
            found = self.persons.get(task.responsible)
            if found is None:
                raise _line(
                    task.line,
                    "responsible",
                    f"责任人 {task.responsible!r} 不存在（既未登记，也不在前面的行中）",
                )
            if found[0][1] != task.lead_unit:
                raise _line(
                    task.line,
                    "responsible",
                    f"责任人 {task.responsible!r} 属于单位 {found[0][1]!r}，"
                    f"必须是牵头单位 {task.lead_unit!r} 的人员",
                )
        if task.leader:
            found = self.persons.get(task.leader)
            if found is None:
                raise _line(task.line, "leader", f"领导 {task.leader!r} 不存在（既未登记，也不在前面的行中）")
            if not found[0][3]:
                raise _line(
                    task.line, "leader", f"{task.leader!r} 不是领导（其 person 记录没有 leader: true）"
                )
        # The parent must exist first and a stored task never changes: parts form no cycle.
        if task.parent and task.parent not in known:
            raise _line(task.line, "parent", f"上级任务 {task.parent!r} 不存在（既未登记，也不在前面的行中）")

    def _check_parts(self) -> None:
        """A report or close in the file on a task with parts: every part reported / closed by then."""
        e, part = import_events.c, tasks.alias("part")
        not_done = or_(
            and_(e.kind == "report", or_(part.c.reported_at.is_(None), part.c.reported_at > e.at)),
            and_(e.kind == "close", or_(part.c.closed_at.is_(None), part.c.closed_at > e.at)),
        )
        query = (
            select(e.line, e.task_id, e.kind, part.c.id)
            .select_from(import_events.join(part, part.c.parent == e.task_id))
            .where(e.kind.in_(("report", "close")), part.c.cancelled_at.is_(None), not_done)
            .order_by(e.line, part.c.id)
            .limit(1)
        )
        row = self.conn.execute(query).first()
        if row is not None:
            done = "反馈" if row.kind == "report" else "销号"
            raise _line(
                row.line,
                "kind",
                f"任务 {row.task_id!r} 有分解的子任务，子任务 {row.id!r} 此时尚未{done}："
                f"全部子任务{done}后才能{done}",
            )
        # A part added to a task already reported or closed would leave it so without the part done.
        parent = tasks.alias("parent")
        late = or_(
            and_(
                parent.c.reported_at.is_not(None),
                or_(part.c.reported_at.is_(None), part.c.reported_at > parent.c.reported_at),
            ),
            and_(
                parent.c.closed_at.is_not(None),
                or_(part.c.closed_at.is_(None), part.c.closed_at > parent.c.closed_at),
            ),
        )
        query = (
            select(import_tasks.c.line, part.c.id, parent.c.id.label("parent_id"))
            .select_from(
                import_tasks.join(part, part.c.id == import_tasks.c.id).join(
                    parent, parent.c.id == part.c.parent
                )
            )
            .where(part.c.cancelled_at.is_(None), late)
            .order_by(import_tasks.c.line)
            .limit(1)
        )
        late_part = self.conn.execute(query).first()
        if late_part is not None:
            raise _line(
                late_part.line,
                "parent",
                f"上级任务 {late_part.parent_id!r} 已反馈或销号，不能再分解出未完成的子任务 {late_part.id!r}",
            )


def _line(line: int, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"line {line}: {name}", rule)])
