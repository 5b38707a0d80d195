"""The ledger import's checks, batch by batch: each line against the store and what the file said before.

What passes is staged (services/tasks/staging) in the import's transaction; no line is held beyond its batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy import text as sql

from services.common.db import among, chunks, lookup_size
from services.common.jsonlines import loads_line
from services.common.timeutil import to_epoch
from services.common.vocabulary import TASK_EVENT_KINDS, label_of
from services.tasks import ledger, staging
from services.tasks.handlers.import_run import ImportRun, Seen, line_error, refuse_missing
from services.tasks.history import due_instant
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import persons, task_events, tasks, units

# Tasks named by events before any line defined them, kept to tell "defined only later" from "missing".
MAX_MISSING = 10_000
# Limits whose due instant is the end of a day counted from the local date of assignment.
_BY_DAY = frozenset({"working_days", "calendar_days", "months"})


def check_batch(run: ImportRun, lines: list[tuple[int, str]]) -> None:
    """A batch of lines checked in file order, against the store and the lines before; staged when good."""
    records: list[ledger.UnitRecord | ledger.TaskRecord | ledger.EventRecord | ledger.PersonRecord] = []
    for line, text in lines:
        obj = loads_line(text, line=line)
        if not isinstance(obj, dict):
            raise line_error(line, "json", "须为 JSON 对象")
        kind = obj.get("type")
        if kind == "unit":
            records.append(ledger.parse_unit(obj, line))
        elif kind == "task":
            records.append(ledger.parse_task(obj, line, run.scheme))
        elif kind == "task_event":
            records.append(ledger.parse_event(obj, line))
        elif kind == "person":
            records.append(ledger.parse_person(obj, line))
        else:
            raise line_error(line, "type", f"{kind!r} 不是任务服务的记录类型")
    records.sort(key=lambda r: r.line)
    _load_units(run, records)
    _load_persons(run, records)
    defined = {r.id for r in records if isinstance(r, ledger.TaskRecord)}
    named = {r.task for r in records if isinstance(r, ledger.EventRecord)}
    parents = {r.parent for r in records if isinstance(r, ledger.TaskRecord) and r.parent}
    known = known_tasks(run, defined | named | parents)
    # A task this batch creates has no events before it (an earlier one would have been refused): only
    # the others' events are looked up.
    seen = known_events(run, named - (defined - known.keys()))
    new_units: list[dict[str, Any]] = []
    new_tasks: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    new_persons: list[dict[str, Any]] = []
    for record in records:
        if isinstance(record, ledger.UnitRecord):
            _unit(run, record, new_units)
        elif isinstance(record, ledger.TaskRecord):
            _task(run, record, known, new_tasks)
        elif isinstance(record, ledger.PersonRecord):
            _person(run, record, new_persons)
        else:
            _event(run, record, known, seen, new_events)
    staging.insert(run.conn, units, new_units)
    staging.insert(run.conn, persons, new_persons)
    staging.insert(run.conn, import_tasks, new_tasks)
    staging.insert(run.conn, import_events, new_events)


def _load_units(run: ImportRun, records: list[Any]) -> None:
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
    wanted -= run.units.keys()
    for unit_id, (name, category) in repo.units_by_id(run.conn, wanted).items():
        run.units[unit_id] = (name, category, 0)
    run.unit_parents |= repo.unit_parents(run.conn, wanted - run.unit_parents.keys())


def known_tasks(run: ImportRun, ids: set[str]) -> dict[str, tuple[str, int]]:
    """id → (canonical record, line it was defined on; 0 when stored) of the tasks among ids known."""
    found: dict[str, tuple[str, int]] = {}
    conn = run.conn
    for part in chunks(sorted(ids), lookup_size(conn)):
        stored = select(tasks.c.id, tasks.c.record).where(among(conn, tasks.c.id, part))
        for row in conn.execute(stored).all():
            found[row.id] = (row.record, 0)
        query = select(import_tasks.c.id, import_tasks.c.record, import_tasks.c.line)
        for staged in conn.execute(query.where(among(conn, import_tasks.c.id, part))).all():
            found[staged.id] = (staged.record, staged.line)
    return found


def known_events(run: ImportRun, task_ids: set[str]) -> dict[tuple[str, str, int], Seen]:
    """(task, kind, at) → (by, note, line or 0 when stored, due_at) of the events of task_ids known."""
    seen: dict[tuple[str, str, int], Seen] = {}
    conn = run.conn
    for part in chunks(sorted(task_ids), lookup_size(conn)):
        with by_index(conn):
            found = conn.execute(stored_events(conn, part)).all()
        # Unpacked, not read by name: a repeated county's import reads 100,000 of them.
        seen.update({(task, kind, at): (by, note, 0, due) for task, kind, at, by, note, due in found})
        staged = select(import_events).where(among(conn, import_events.c.task_id, part))
        for row in conn.execute(staged).all():
            seen[(row.task_id, row.kind, row.at)] = (row.by, row.note, row.line, row.due_at)
    return seen


def stored_events(conn: Connection, task_ids: Sequence[str]) -> Select[Any]:
    """The stored events of task_ids (a batch's worth) of the kinds a ledger line may hold, as known_events
    compares the file's with them (a task's create and assign, two of a county's three events, never are)."""
    e = task_events.c
    return select(e.task_id, e.kind, e.at, e.by, e.note, e.due_at).where(
        among(conn, e.task_id, task_ids), e.kind.in_(ledger.EVENT_KINDS)
    )


@contextmanager
def by_index(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, the block's reads go by an index where one serves them.

    A batch's 2,000 tasks have about 6,000 of a county's 300,000 events: the planner, counting a random
    page read for each, would rather read the whole table (40 ms a batch, every batch of a repeated
    import) than the index (10 ms; a batch's events lie on a few hundred pages). Only for the block: the
    import's set-based statements afterwards are planned as they are. (Left as is after a failure: the
    transaction is then over, and its SET LOCAL with it.)
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    before = conn.execute(
        sql("SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)")
    ).scalar_one()
    yield
    conn.execute(sql("SELECT set_config('enable_seqscan', :value, true)"), {"value": before})


def _unit(run: ImportRun, unit: ledger.UnitRecord, new: list[dict[str, Any]]) -> None:
    canonical = (unit.name, unit.category)
    before = run.units.get(unit.id)
    _check_unit_parent(run, unit, known=before is not None)
    if before is not None:
        if before[:2] != canonical:
            raise line_error(
                unit.line,
                "id",
                f"单位 {unit.id!r} 已按其他值记录（{before[0]}，{before[1]}）；不接受以已有编号改动的记录",
            )
        run.unchanged["unit"] += 1
        return
    run.units[unit.id] = (unit.name, unit.category, unit.line)
    run.unit_parents[unit.id] = unit.parent
    new.append(
        {
            "id": unit.id,
            "name": unit.name,
            "category": unit.category,
            "created_at": run.stamp,
            "parent": unit.parent or None,
        }
    )
    run.created["unit"] += 1


def _task(
    run: ImportRun, task: ledger.TaskRecord, known: dict[str, tuple[str, int]], new: list[dict[str, Any]]
) -> None:
    for name, unit_id in [("lead_unit", task.lead_unit), *(("co_units", c) for c in task.co_units)]:
        if unit_id not in run.units:
            raise line_error(
                task.line,
                name,
                f"单位 {unit_id!r} 不存在（既未存储，也不在前面的行中）",
            )
    if task.id in run.missing:
        line = run.missing[task.id]
        raise line_error(line, "task", f"任务 {task.id!r} 到第 {task.line} 行才定义")
    _check_people_and_parent(run, task, known)
    canonical = task.canonical()
    before = known.get(task.id)
    if before is not None:
        if before[0] != canonical:
            raise line_error(
                task.line,
                "id",
                f"任务 {task.id!r} 已按其他值记录；不接受以已有编号改动的记录",
            )
        run.unchanged["task"] += 1
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
            "due_at": _due(run, task),
            "due_given": task.due_at is not None,
            "record": canonical,
            **{name: value or None for name, value in task.people_and_parent().items()},
        }
    )
    run.created["task"] += 1


def _due(run: ImportRun, task: ledger.TaskRecord) -> int:
    """due_instant of task; under a limit of whole days it depends on the date only, so it is kept."""
    if task.due_at is not None or run.scheme.task_types[task.task_type].limit.unit not in _BY_DAY:
        return due_instant(task, scheme=run.scheme, calendar=run.calendar, tz=run.tz)
    key = (task.task_type, task.assigned_at.astimezone(run.tz).date())
    due = run.due_by_day.get(key)
    if due is None:
        due = due_instant(task, scheme=run.scheme, calendar=run.calendar, tz=run.tz)
        run.due_by_day[key] = due
    return due


def _event(
    run: ImportRun,
    event: ledger.EventRecord,
    known: dict[str, tuple[str, int]],
    seen: dict[tuple[str, str, int], Seen],
    new: list[dict[str, Any]],
) -> None:
    if event.task not in known:
        run.missing.setdefault(event.task, event.line)
        if len(run.missing) > MAX_MISSING:
            # A file of events for tasks nobody defined: refused now, not held to the end.
            refuse_missing(run)
        return
    key = event.key()
    due = to_epoch(event.due_at) if event.due_at is not None else None
    if key in seen:
        by, note, line, seen_due = seen[key]
        if (by, note, seen_due) != (event.by, event.note, due):
            where = f"第 {line} 行的记录" if line else "已有记录"
            name = "by" if by != event.by else "note" if note != event.note else "due_at"
            raise line_error(
                event.line,
                name,
                f"任务 {event.task!r} 在 {event.at.isoformat()} 的"
                f"{label_of(TASK_EVENT_KINDS, event.kind)}与{where}"
                f"取值不同（by {by!r}，note {note!r}）；不接受改动的记录",
            )
        run.unchanged["task_event"] += 1
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
    run.created["task_event"] += 1


def _load_persons(run: ImportRun, records: list[Any]) -> None:
    wanted = set()
    for r in records:
        if isinstance(r, ledger.PersonRecord):
            wanted.add(r.id)
        elif isinstance(r, ledger.TaskRecord):
            wanted.update(p for p in (r.responsible, r.leader) if p)
    wanted -= run.persons.keys()
    for person in repo.persons_by_id(run.conn, wanted).values():
        values = (person.name, person.unit, person.post, person.leader, person.mobile)
        run.persons[person.id] = (values, 0)


def _check_unit_parent(run: ImportRun, unit: ledger.UnitRecord, *, known: bool) -> None:
    # A parent must exist before the unit names it, and a stored unit never changes: no cycle can form.
    if known:
        before = run.unit_parents.get(unit.id, "")
        if before != unit.parent:
            raise line_error(
                unit.line,
                "parent",
                f"单位 {unit.id!r} 已登记的上级是 {before or '（无）'!r}，与本行不同；已有代码的记录不能修改",
            )
        return
    if unit.parent and unit.parent not in run.units:
        raise line_error(
            unit.line, "parent", f"上级单位 {unit.parent!r} 不存在（既未登记，也不在前面的行中）"
        )


def _person(run: ImportRun, person: ledger.PersonRecord, new: list[dict[str, Any]]) -> None:
    if person.unit not in run.units:
        raise line_error(person.line, "unit", f"单位 {person.unit!r} 不存在（既未登记，也不在前面的行中）")
    before = run.persons.get(person.id)
    if before is not None:
        if before[0] != person.values():
            where = f"第 {before[1]} 行" if before[1] else "已登记"
            raise line_error(
                person.line,
                "id",
                f"责任人 {person.id!r} {where}的信息与本行不同；已有代码的记录不能修改",
            )
        run.unchanged["person"] += 1
        return
    run.persons[person.id] = (person.values(), person.line)
    new.append(
        {
            "id": person.id,
            "name": person.name,
            "unit_id": person.unit,
            "post": person.post,
            "leader": person.leader,
            "mobile": person.mobile,
            "created_at": run.stamp,
        }
    )
    run.created["person"] += 1


def _check_people_and_parent(
    run: ImportRun, task: ledger.TaskRecord, known: dict[str, tuple[str, int]]
) -> None:
    if task.responsible:
        found = run.persons.get(task.responsible)
        if found is None:
            raise line_error(
                task.line,
                "responsible",
                f"责任人 {task.responsible!r} 不存在（既未登记，也不在前面的行中）",
            )
        if found[0][1] != task.lead_unit:
            raise line_error(
                task.line,
                "responsible",
                f"责任人 {task.responsible!r} 属于单位 {found[0][1]!r}，"
                f"必须是牵头单位 {task.lead_unit!r} 的人员",
            )
    if task.leader:
        found = run.persons.get(task.leader)
        if found is None:
            raise line_error(
                task.line, "leader", f"领导 {task.leader!r} 不存在（既未登记，也不在前面的行中）"
            )
        if not found[0][3]:
            raise line_error(
                task.line, "leader", f"{task.leader!r} 不是领导（其 person 记录没有 leader: true）"
            )
    # The parent must exist first and a stored task never changes: parts form no cycle.
    if task.parent and task.parent not in known:
        raise line_error(
            task.line, "parent", f"上级任务 {task.parent!r} 不存在（既未登记，也不在前面的行中）"
        )
