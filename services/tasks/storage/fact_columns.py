"""Timeliness facts read as columns: one query per role, streamed in chunks straight into numpy arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Connection, Select, and_, func, literal, or_, select

from services.common.packed import Column, Strings
from services.common.timeutil import NO_TIME
from services.tasks.storage.repository import counted_reports
from services.tasks.storage.tables import task_co_units, tasks

# The order of the columns in every chunk (the message says so by name too).
FACT_COLUMNS = (
    "task_id",
    "unit",
    "is_lead",
    "priority",
    "assigned_at",
    "due_at",
    "reported_at",
    "cancelled_at",
    "task_type",
    "due_given",
)


def timeliness_columns(
    conn: Connection,
    *,
    due_from: int,
    due_before: int,
    as_of: int,
    chunk_size: int,
    assigned_from: int = 0,
    assigned_before: int = 0,
) -> Iterator[dict[str, Column]]:
    """Chunks of at most chunk_size (task, involved unit) rows as columns (see FACT_COLUMNS), lead units
    first, then co-units: tasks due in [due_from, due_before) by as_of, and with assigned_before, every task
    with a computed due instant assigned in [assigned_from, assigned_before). NO_TIME stands for none.

    `tasks.reported_at` already holds the latest unrejected report over all events, which is the
    report that counts whenever it is at or before as_of; only the few tasks whose stored report
    came after as_of are looked up in the event history again.
    """
    # A task opened but never assigned (交办) was never the unit's to do, whatever due instant it was given.
    window = and_(
        tasks.c.due_at >= due_from,
        tasks.c.due_at < due_before,
        tasks.c.due_at <= as_of,
        tasks.c.assigned_at.is_not(None),
    )
    if assigned_before:
        window = or_(
            window,
            and_(
                tasks.c.due_given.is_(False),
                tasks.c.assigned_at >= assigned_from,
                tasks.c.assigned_at < assigned_before,
            ),
        )
    earlier = counted_reports(
        conn, as_of=as_of, task_ids=select(tasks.c.id).where(window, tasks.c.reported_at > as_of)
    )
    none = literal(NO_TIME, BigInteger)
    columns = (
        tasks.c.priority,
        func.coalesce(tasks.c.assigned_at, none),
        func.coalesce(tasks.c.due_at, none),
        func.coalesce(tasks.c.reported_at, none),
        func.coalesce(tasks.c.cancelled_at, none),
        tasks.c.task_type,
        tasks.c.due_given,
    )
    lead = select(tasks.c.id, tasks.c.lead_unit, *columns).where(window).order_by(tasks.c.id)
    co = (
        select(tasks.c.id, task_co_units.c.unit_id, *columns)
        .select_from(tasks.join(task_co_units, task_co_units.c.task_id == tasks.c.id))
        .where(window)
        .order_by(tasks.c.id, task_co_units.c.unit_id)
    )
    for is_lead, query in ((True, lead), (False, co)):
        for part in _fetch(conn, query, chunk_size):
            yield _chunk(part, is_lead=is_lead, as_of=as_of, earlier=earlier)


def _fetch(conn: Connection, query: Select[Any], chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of query in lists of chunk_size plain tuples, by the driver's own cursor: on PostgreSQL a
    server-side cursor fetching chunk_size rows a round trip, on SQLite fetchmany. No per-row objects
    besides the driver's tuples (SQLAlchemy's rows and buffering cost as much again)."""
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.params
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        # Binary results: numbers and booleans arrive without being parsed from text.
        cursor = raw.cursor(name="kaohe_timeliness_facts", binary=True)
        statement: Any = str(compiled)
        arguments: Any = params
    else:
        cursor = raw.cursor()
        statement = str(compiled)
        arguments = tuple(params[name] for name in compiled.positiontup or ())
    try:
        cursor.execute(statement, arguments)
        while part := cursor.fetchmany(chunk_size):
            yield part
    finally:
        cursor.close()


def _chunk(part: Any, *, is_lead: bool, as_of: int, earlier: dict[str, int]) -> dict[str, Column]:
    """One chunk of rows as columns: the transpose and the conversions run in C, not a step per row."""
    task, unit, priority, assigned, due, reported, cancelled, task_type, due_given = zip(*part, strict=True)
    n = len(task)
    reported_at = np.array(reported, dtype=np.int64)
    # The few whose stored report came after the cutoff: the report that counted by then, if any.
    for k in np.flatnonzero(reported_at > as_of).tolist():
        reported_at[k] = earlier.get(task[k], NO_TIME)
    return {
        # One value a row (a task has one row per role and unit): no dictionary to build.
        "task_id": Strings(np.arange(n, dtype=np.int32), list(task)),
        "unit": Strings.encode(unit),
        "is_lead": np.full(n, is_lead, dtype=bool),
        "priority": Strings.encode(priority),
        "assigned_at": np.array(assigned, dtype=np.int64),
        "due_at": np.array(due, dtype=np.int64),
        "reported_at": reported_at,
        "cancelled_at": np.array(cancelled, dtype=np.int64),
        "task_type": Strings.encode(task_type),
        "due_given": np.array(due_given, dtype=bool),
    }
