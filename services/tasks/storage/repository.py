"""Data functions of the tasks service: they read and write through a connection, never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update

from services.common.db import advisory_xact_lock, chunks, try_advisory_xact_lock

# The reads and writes that moved to their own modules stay reachable as repository.<name>.
from services.tasks.storage.people import PersonRow as PersonRow
from services.tasks.storage.people import all_unit_parents as all_unit_parents
from services.tasks.storage.people import list_persons as list_persons
from services.tasks.storage.people import persons_by_id as persons_by_id
from services.tasks.storage.people import unit_parents as unit_parents
from services.tasks.storage.people import units_below as units_below
from services.tasks.storage.reminders import ReminderRow as ReminderRow
from services.tasks.storage.reminders import add_reminders as add_reminders
from services.tasks.storage.reminders import reminders_of as reminders_of
from services.tasks.storage.tables import (
    import_decisions,
    persons,
    task_co_units,
    task_events,
    tasks,
    units,
)
from services.tasks.storage.timeline import counted_reports as counted_reports
from services.tasks.storage.timeline import next_instants as next_instants
from services.tasks.storage.timeline import summary_rows as summary_rows
from services.tasks.storage.timeline import unreported_windows as unreported_windows

# An arbitrary 63-bit key naming the tasks service's import lock among PostgreSQL's advisory locks.
IMPORT_LOCK = 0x6B616F6865_7461


@dataclass(frozen=True)
class TaskRow:
    id: str
    title: str
    task_type: str
    source: str
    lead_unit: str
    co_units: tuple[str, ...]
    priority: str
    state: str
    assigned_at: int | None
    due_at: int | None
    reported_at: int | None
    cancelled_at: int | None
    closed_at: int | None
    created_at: int
    updated_at: int
    version: int
    record: str
    responsible: str = ""
    leader: str = ""
    parent: str = ""


@dataclass(frozen=True)
class EventRow:
    seq: int
    task_id: str
    kind: str
    at: int
    by: str
    note: str
    rejected: bool
    due_at: int | None = None  # an extend's new due instant


def units_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """id → (name, category) of the stored units among ids."""
    found: dict[str, tuple[str, str]] = {}
    for part in chunks(sorted(set(ids))):
        for row in conn.execute(
            select(units.c.id, units.c.name, units.c.category).where(units.c.id.in_(part))
        ):
            found[row.id] = (row.name, row.category)
    return found


def list_units(conn: Connection, *, category: str, after: str, limit: int) -> list[tuple[str, str, str]]:
    query = select(units.c.id, units.c.name, units.c.category).where(units.c.id > after)
    if category:
        query = query.where(units.c.category == category)
    return [(r.id, r.name, r.category) for r in conn.execute(query.order_by(units.c.id).limit(limit))]


def _co_units(conn: Connection, task_ids: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in chunks(list(task_ids)):
        query = (
            select(task_co_units.c.task_id, task_co_units.c.unit_id)
            .where(task_co_units.c.task_id.in_(part))
            .order_by(task_co_units.c.task_id, task_co_units.c.unit_id)
        )
        for row in conn.execute(query):
            result.setdefault(row.task_id, []).append(row.unit_id)
    return result


def _rows(conn: Connection, rows: Sequence[Any]) -> list[TaskRow]:
    co = _co_units(conn, [r.id for r in rows])
    return [
        TaskRow(
            r.id,
            r.title,
            r.task_type,
            r.source,
            r.lead_unit,
            tuple(co.get(r.id, ())),
            r.priority,
            r.state,
            r.assigned_at,
            r.due_at,
            r.reported_at,
            r.cancelled_at,
            r.closed_at,
            r.created_at,
            r.updated_at,
            r.version,
            r.record,
            r.responsible or "",
            r.leader or "",
            r.parent or "",
        )
        for r in rows
    ]


def tasks_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, TaskRow]:
    found: dict[str, TaskRow] = {}
    for part in chunks(sorted(set(ids))):
        for row in _rows(conn, list(conn.execute(select(tasks).where(tasks.c.id.in_(part))))):
            found[row.id] = row
    return found


def get_task(conn: Connection, task_id: str) -> TaskRow | None:
    return tasks_by_id(conn, [task_id]).get(task_id)


def lock_task(conn: Connection, task_id: str) -> None:
    """Holds the task's row until the transaction ends, so its events and version are read as one.

    (SQLite ignores FOR UPDATE: its writers already run one at a time.)
    """
    conn.execute(select(tasks.c.id).where(tasks.c.id == task_id).with_for_update())


def lock_imports(conn: Connection) -> None:
    """Queues imports one behind the other on PostgreSQL: a second import of a file finds the first stored."""
    if conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, IMPORT_LOCK)


def try_lock_imports(conn: Connection) -> bool:
    """lock_imports when no import's transaction holds it (True); False at once when one is running."""
    return conn.dialect.name != "postgresql" or try_advisory_xact_lock(conn, IMPORT_LOCK)


# The tables an import fills in bulk.
IMPORTED_TABLES = (units, persons, tasks, task_co_units, task_events)


def analyze_imported(conn: Connection) -> None:
    """On PostgreSQL, fresh statistics of the tables an import fills, in the import's own transaction.

    Without them (autovacuum off, or its first pass a minute after the commit) the planner guesses, and
    the facts' chunk queries scan and sort every later row a chunk (docs/scale.md). ANALYZE counts the
    transaction's own new rows, and its statistics commit with them: no moment without. SQLite: nothing.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE " + ", ".join(table.name for table in IMPORTED_TABLES)))


def import_outcome(conn: Connection, import_id: str) -> tuple[str, int] | None:
    """(outcome, since when) of an import: pending, committed or aborted; None when never heard of."""
    row = conn.execute(
        select(import_decisions.c.outcome, import_decisions.c.decided_at).where(
            import_decisions.c.import_id == import_id
        )
    ).first()
    return None if row is None else (row.outcome, row.decided_at)


def record_outcome(conn: Connection, *, import_id: str, outcome: str, now: int, known: bool) -> None:
    """Records the import's outcome: a first row, or (known) the one that replaces "pending"."""
    if known:
        conn.execute(
            update(import_decisions)
            .where(import_decisions.c.import_id == import_id)
            .values(outcome=outcome, decided_at=now)
        )
    else:
        conn.execute(import_decisions.insert().values(import_id=import_id, outcome=outcome, decided_at=now))


def events_of(conn: Connection, task_ids: Iterable[str]) -> dict[str, list[EventRow]]:
    result: dict[str, list[EventRow]] = {}
    for part in chunks(sorted(set(task_ids))):
        query = select(task_events).where(task_events.c.task_id.in_(part)).order_by(task_events.c.seq)
        for r in conn.execute(query):
            result.setdefault(r.task_id, []).append(
                EventRow(r.seq, r.task_id, r.kind, r.at, r.by, r.note, bool(r.rejected), r.due_at)
            )
    return result


@dataclass(frozen=True)
class TaskFilter:
    unit: str = ""
    state: str = ""
    color: str = ""
    task_type: str = ""
    due_from: int | None = None
    due_before: int | None = None
    overdue: bool = False
    title: str = ""  # a part of the title, matched literally (% and _ are not wildcards)


def _open() -> Any:
    return and_(tasks.c.state.notin_(("closed", "cancelled", "created")), tasks.c.reported_at.is_(None))


def filter_clause(flt: TaskFilter, *, at: int, yellow_threshold: float) -> Any:
    """The WHERE clause of a task listing; colours as of `at` (SCORING.md §3)."""
    clauses: list[Any] = []
    if flt.unit:
        co = select(task_co_units.c.task_id).where(task_co_units.c.unit_id == flt.unit)
        clauses.append(or_(tasks.c.lead_unit == flt.unit, tasks.c.id.in_(co)))
    if flt.state:
        clauses.append(tasks.c.state == flt.state)
    if flt.task_type:
        clauses.append(tasks.c.task_type == flt.task_type)
    if flt.due_from is not None:
        clauses.append(tasks.c.due_at >= flt.due_from)
    if flt.due_before is not None:
        clauses.append(tasks.c.due_at < flt.due_before)
    if flt.title:
        clauses.append(tasks.c.title.contains(flt.title, autoescape=True))
    if flt.overdue:
        clauses.append(and_(_open(), tasks.c.due_at < at))
    if flt.color:
        elapsed_reached = (at - tasks.c.assigned_at) >= yellow_threshold * (
            tasks.c.due_at - tasks.c.assigned_at
        )
        if flt.color == "red":
            clauses.append(and_(_open(), tasks.c.due_at < at))
        elif flt.color == "yellow":
            clauses.append(and_(_open(), tasks.c.due_at >= at, elapsed_reached))
        else:
            clauses.append(and_(_open(), tasks.c.due_at >= at, ~elapsed_reached))
    return and_(*clauses) if clauses else and_(True)


def list_tasks(
    conn: Connection, flt: TaskFilter, *, at: int, yellow_threshold: float, after: str, limit: int
) -> list[TaskRow]:
    return _page(conn, flt, at, yellow_threshold, after=tasks.c.id > after, order=[tasks.c.id], limit=limit)


def list_tasks_by_report(
    conn: Connection,
    flt: TaskFilter,
    *,
    at: int,
    yellow_threshold: float,
    after: tuple[int, str],
    never: int,
    limit: int,
) -> list[TaskRow]:
    """A page of tasks after the position (report instant, id): the oldest report first, then by id, those
    never reported last (their instant `never`)."""
    reported = func.coalesce(tasks.c.reported_at, never)
    after_at, after_id = after
    position = or_(reported > after_at, and_(reported == after_at, tasks.c.id > after_id))
    return _page(conn, flt, at, yellow_threshold, after=position, order=[reported, tasks.c.id], limit=limit)


def _page(
    conn: Connection,
    flt: TaskFilter,
    at: int,
    yellow_threshold: float,
    *,
    after: Any,
    order: list[Any],
    limit: int,
) -> list[TaskRow]:
    """The tasks the filter matches past a position, in order, limit at most."""
    query = (
        select(tasks)
        .where(filter_clause(flt, at=at, yellow_threshold=yellow_threshold))
        .where(after)
        .order_by(*order)
        .limit(limit)
    )
    return _rows(conn, list(conn.execute(query)))


def count_tasks(conn: Connection, flt: TaskFilter, *, at: int, yellow_threshold: float) -> int:
    """How many tasks the filter matches."""
    query = (
        select(func.count())
        .select_from(tasks)
        .where(filter_clause(flt, at=at, yellow_threshold=yellow_threshold))
    )
    return int(conn.execute(query).scalar_one())


def open_tasks(conn: Connection) -> list[TaskRow]:
    """Every assigned task not yet reported, closed or cancelled, with its due instant."""
    query = select(tasks).where(_open(), tasks.c.due_at.is_not(None), tasks.c.assigned_at.is_not(None))
    return _rows(conn, list(conn.execute(query.order_by(tasks.c.id))))


def update_task(conn: Connection, task_id: str, *, expected_version: int, values: dict[str, Any]) -> bool:
    """Writes the task when nobody changed it since expected_version; False when somebody did."""
    result = conn.execute(
        update(tasks)
        .where(and_(tasks.c.id == task_id, tasks.c.version == expected_version))
        .values(version=expected_version + 1, **values)
    )
    return bool(result.rowcount == 1)


def insert_event(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(task_events.insert().values(**values))
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def set_rejected(conn: Connection, changes: dict[int, bool]) -> None:
    for rejected in (True, False):
        seqs = [seq for seq, flag in changes.items() if flag is rejected]
        for part in chunks(seqs):
            conn.execute(update(task_events).where(task_events.c.seq.in_(part)).values(rejected=rejected))


# ---- tasks of people and of tasks


def person_tasks(conn: Connection, person_ids: Sequence[str]) -> list[TaskRow]:
    """The tasks whose 责任人 or 包保领导 is among person_ids."""
    found: list[TaskRow] = []
    for part in chunks(sorted(set(person_ids))):
        query = select(tasks).where(or_(tasks.c.responsible.in_(part), tasks.c.leader.in_(part)))
        found += _rows(conn, list(conn.execute(query.order_by(tasks.c.id))))
    return found


def parts_of(conn: Connection, task_id: str) -> list[TaskRow]:
    """The tasks naming task_id as their parent (任务分解), by id."""
    query = select(tasks).where(tasks.c.parent == task_id).order_by(tasks.c.id)
    return _rows(conn, list(conn.execute(query)))
