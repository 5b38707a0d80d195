"""Timeliness facts read as columns: one query per role, streamed in chunks straight into numpy arrays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, ColumnElement, Connection, Select, and_, func, literal, or_, select, text

from services.common.packed import Column, Strings
from services.common.timeutil import NO_TIME
from services.tasks.storage.tables import task_co_units, task_events, tasks
from services.tasks.storage.timeline import counted_reports


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
    """Chunks of at most chunk_size (task, involved unit) rows as columns (FACT_COLUMNS of
    services/common/facts.py), lead units first, then co-units: tasks due in [due_from, due_before) by
    as_of, every extended (延期) task assigned before due_before, and with assigned_before, every task with
    a computed due instant assigned in [assigned_from, assigned_before). NO_TIME stands for none.

    `tasks.reported_at` already holds the latest unrejected report over all events, which is the
    report that counts whenever it is at or before as_of; only the few tasks whose stored report
    came after as_of are looked up in the event history again. An extended task's due is the one in
    force at as_of (SCORING.md §2): its latest extension by then, else its own — where that is a computed
    one, due_at is NO_TIME with due_given false, for the caller to compute under its scheme.
    """
    if conn.dialect.name == "postgresql":
        index_order(conn)
    window = _window(
        due_from=due_from,
        due_before=due_before,
        as_of=as_of,
        assigned_from=assigned_from,
        assigned_before=assigned_before,
    )
    earlier = counted_reports(
        conn, as_of=as_of, task_ids=select(tasks.c.id).where(window, tasks.c.reported_at > as_of)
    )
    extensions = extensions_of(conn, assigned_before=due_before)
    lead, co = _fact_queries(window)

    def finish(chunk: dict[str, Column]) -> dict[str, Column]:
        return _in_force(conn, chunk, as_of=as_of, earlier=earlier, extensions=extensions)

    if conn.dialect.name == "postgresql":
        for chunk in _aggregated(conn, window, chunk_size):
            yield finish(chunk)
    else:
        for part in _fetch(conn, lead, chunk_size):
            yield finish(_chunk(part, is_lead=True))
    for part in _fetch(conn, co, chunk_size):
        yield finish(_chunk(part, is_lead=False))


def index_order(conn: Connection) -> None:
    """For the rest of conn's transaction on PostgreSQL, key order read by an index, never sorted."""
    # Every read here is in key order, which an index scan gives without sorting. Without table
    # statistics (a bulk import just committed, autovacuum not yet by) the planner would rather
    # scan all rows after the chunk's start and sort them on disk, every chunk (docs/scale.md):
    # a sort costs it so much now that the index scan is its plan whatever it knows of the rows.
    # SET LOCAL: for this read's transaction only.
    conn.execute(text("SET LOCAL enable_sort = off"))


def _window(
    *, due_from: int, due_before: int, as_of: int, assigned_from: int, assigned_before: int
) -> ColumnElement[bool]:
    """Which tasks the facts hold (timeliness_columns tells): the due window, extended and computed dues."""
    # A task opened but never assigned (交办) was never the unit's to do, whatever due instant it was given.
    window = and_(
        tasks.c.due_at >= due_from,
        tasks.c.due_at < due_before,
        tasks.c.due_at <= as_of,
        tasks.c.assigned_at.is_not(None),
    )
    # An extended task's stored due is its latest extension's; the one in force at as_of may be another.
    extended = select(task_events.c.task_id).where(task_events.c.kind == "extend")
    window = or_(
        window,
        and_(tasks.c.assigned_at.is_not(None), tasks.c.assigned_at < due_before, tasks.c.id.in_(extended)),
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
    return window


def _fact_queries(window: ColumnElement[bool]) -> tuple[Select[Any], Select[Any]]:
    """The lead units' rows and the co-units' rows of the tasks in window, by task id."""
    none = literal(NO_TIME, BigInteger)
    columns = (
        tasks.c.priority,
        func.coalesce(tasks.c.assigned_at, none),
        func.coalesce(tasks.c.due_at, none),
        func.coalesce(tasks.c.reported_at, none),
        func.coalesce(tasks.c.cancelled_at, none),
        tasks.c.task_type,
        tasks.c.due_given,
        func.coalesce(tasks.c.verified_at, none),
    )
    lead = select(tasks.c.id, tasks.c.lead_unit, *columns).where(window).order_by(tasks.c.id)
    co = (
        select(tasks.c.id, task_co_units.c.unit_id, *columns)
        .select_from(tasks.join(task_co_units, task_co_units.c.task_id == tasks.c.id))
        .where(window)
        .order_by(tasks.c.id, task_co_units.c.unit_id)
    )
    return lead, co


def extensions_of(
    conn: Connection, *, assigned_before: int
) -> dict[str, tuple[list[tuple[int, int]], int | None]]:
    """Per extended task assigned before assigned_before: its extensions as (at, due_at) in ledger order, and
    the due instant its record gave (None: a computed one). Read from the few extend events, not the tasks."""
    query = (
        select(task_events.c.task_id, task_events.c.at, task_events.c.due_at, tasks.c.record)
        .select_from(task_events.join(tasks, tasks.c.id == task_events.c.task_id))
        .where(task_events.c.kind == "extend", tasks.c.assigned_at < assigned_before)
        .order_by(task_events.c.task_id, task_events.c.at, task_events.c.seq)
    )
    out: dict[str, tuple[list[tuple[int, int]], int | None]] = {}
    for task_id, at, due, record in conn.execute(query):
        if task_id not in out:
            given = json.loads(record).get("due_at")
            out[task_id] = ([], int(given) if given is not None else None)
        out[task_id][0].append((int(at), int(due)))
    return out


def _in_force(
    conn: Connection,
    chunk: dict[str, Column],
    *,
    as_of: int,
    earlier: dict[str, int],
    extensions: dict[str, tuple[list[tuple[int, int]], int | None]],
) -> dict[str, Column]:
    """chunk as of as_of: the report that counted by then (for the few whose stored report came later),
    whether a verify (核查) came after it, and each extended task's due in force then."""
    task = chunk["task_id"]
    ids = task.values if isinstance(task, Strings) else []
    reported = np.asarray(chunk["reported_at"])
    late = np.flatnonzero(reported > as_of).tolist()
    if late:
        reported = reported.copy()
        for k in late:
            reported[k] = earlier.get(ids[k], NO_TIME)
        chunk["reported_at"] = reported
    verified_at = np.asarray(chunk.pop("verified_at"))
    has_report = reported != NO_TIME
    verified = has_report & (verified_at > reported)
    ties = np.flatnonzero(has_report & (verified_at == reported)).tolist()
    if ties:
        after = verified_in_the_same_second(conn, [(ids[k], int(reported[k])) for k in ties])
        verified[ties] = [ids[k] in after for k in ties]
    chunk["verified"] = verified
    extended = np.zeros(len(reported), dtype=bool)
    if extensions:
        due = np.array(chunk["due_at"], dtype=np.int64)
        given = np.array(chunk["due_given"], dtype=bool)
        for k in [k for k, t in enumerate(ids) if t in extensions]:
            steps, own = extensions[ids[k]]
            by_then = [d for at, d in steps if at <= as_of]
            if by_then:
                due[k], given[k], extended[k] = by_then[-1], True, True
            else:
                due[k], given[k] = (own, True) if own is not None else (NO_TIME, False)
        chunk["due_at"], chunk["due_given"] = due, given
    chunk["extended"] = extended
    return chunk


def verified_in_the_same_second(conn: Connection, pairs: list[tuple[str, int]]) -> set[str]:
    """The tasks among (task, report instant) with a verify in that same second recorded after the report."""
    found: set[str] = set()
    for task_id, at in pairs:
        rows = conn.execute(
            select(task_events.c.kind, task_events.c.seq, task_events.c.rejected)
            .where(
                task_events.c.task_id == task_id,
                task_events.c.at == at,
                task_events.c.kind.in_(("report", "verify")),
            )
            .order_by(task_events.c.seq)
        ).all()
        reports = [seq for kind, seq, rejected in rows if kind == "report" and not rejected]
        if reports and any(kind == "verify" and seq > reports[-1] for kind, seq, _ in rows):
            found.add(task_id)
    return found


# A chunk of lead rows in one result row on PostgreSQL: each string column joined by U+001F (no id, unit,
# priority or task type holds a control character), each number column an array in its binary form. One
# aggregate node takes every row once for all its aggregates, so the columns agree row by row; they take
# them in the order of the index scan (ids ascending), and max(id) is where the next chunk starts.
_AGGREGATED = """
SELECT count(*), max(id), string_agg(id, E'\\x1f'), string_agg(lead_unit, E'\\x1f'),
  string_agg(priority, E'\\x1f'), string_agg(task_type, E'\\x1f'),
  array_send(array_agg(assigned_at)), array_send(array_agg(due_at)), array_send(array_agg(reported_at)),
  array_send(array_agg(cancelled_at)), array_send(array_agg(due_given)), array_send(array_agg(verified_at))
FROM (
  SELECT id, lead_unit, priority, task_type, COALESCE(assigned_at, {none}) AS assigned_at,
    COALESCE(due_at, {none}) AS due_at, COALESCE(reported_at, {none}) AS reported_at,
    COALESCE(cancelled_at, {none}) AS cancelled_at, due_given, COALESCE(verified_at, {none}) AS verified_at
  FROM tasks WHERE ({window}){after} ORDER BY id LIMIT {limit}
) chunk
"""
_ARRAY_HEADER = 20  # one dimension: ndim, has-nulls flag, element type, length, lower bound
_INT8S = np.dtype([("length", ">i4"), ("value", ">i8")])
_BOOLS = np.dtype([("length", ">i4"), ("value", "u1")])


def aggregated_statement(where: str, *, after: bool, limit: int) -> str:
    """The chunk's statement over the tasks where holds, from the id %(after)s on when after."""
    return _AGGREGATED.format(
        none=f"CAST({NO_TIME} AS BIGINT)",
        window=where,
        after=" AND id > %(after)s" if after else "",
        limit=int(limit),
    )


def _aggregated(conn: Connection, window: Any, chunk_size: int) -> Iterator[dict[str, Column]]:
    """The lead rows, chunk by chunk in id order (keyset), each chunk one row: a handful of Python
    objects a chunk rather than one per value. The whole read sees one snapshot (REPEATABLE READ)."""
    where = str(window.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = conn.connection.dbapi_connection
    after: str | None = None
    while True:
        statement = aggregated_statement(where, after=after is not None, limit=chunk_size)
        with raw.cursor(binary=True) as cursor:
            cursor.execute(statement, {"after": after} if after is not None else None)
            row = cursor.fetchone()
        n = int(row[0]) if row else 0
        if not n:
            return
        task, unit, priority, task_type = (str(text).split("\x1f") for text in row[2:6])
        if not len(task) == len(unit) == len(priority) == len(task_type) == n:
            raise ValueError("a string of the facts holds the separator U+001F")
        numbers = [_array(bytes(data), _INT8S, n) for data in row[6:10]]
        yield {
            "task_id": Strings(np.arange(n, dtype=np.int32), task),
            "unit": Strings.encode(unit),
            "is_lead": np.ones(n, dtype=bool),
            "priority": Strings.encode(priority),
            "assigned_at": numbers[0],
            "due_at": numbers[1],
            "reported_at": numbers[2],
            "cancelled_at": numbers[3],
            "task_type": Strings.encode(task_type),
            "due_given": _array(bytes(row[10]), _BOOLS, n).astype(bool),
            "verified_at": _array(bytes(row[11]), _INT8S, n),
        }
        if n < chunk_size:
            return
        after = str(row[1])


def _array(data: bytes, dtype: np.dtype[Any], n: int) -> np.ndarray:
    """A one-dimensional array without NULLs in PostgreSQL's binary form, as numpy (native order)."""
    if len(data) != _ARRAY_HEADER + n * dtype.itemsize or int.from_bytes(data[4:8], "big") != 0:
        raise ValueError("not an array of the expected length without NULLs")
    values = np.frombuffer(data, dtype=dtype, count=n, offset=_ARRAY_HEADER)["value"]
    return values.astype(values.dtype.newbyteorder("="))


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


def _chunk(part: Any, *, is_lead: bool) -> dict[str, Column]:
    """One chunk of rows as columns: the transpose and the conversions run in C, not a step per row."""
    task, unit, priority, assigned, due, reported, cancelled, task_type, due_given, verified_at = zip(
        *part, strict=True
    )
    n = len(task)
    return {
        # One value a row (a task has one row per role and unit): no dictionary to build.
        "task_id": Strings(np.arange(n, dtype=np.int32), list(task)),
        "unit": Strings.encode(unit),
        "is_lead": np.full(n, is_lead, dtype=bool),
        "priority": Strings.encode(priority),
        "assigned_at": np.array(assigned, dtype=np.int64),
        "due_at": np.array(due, dtype=np.int64),
        "reported_at": np.array(reported, dtype=np.int64),
        "cancelled_at": np.array(cancelled, dtype=np.int64),
        "task_type": Strings.encode(task_type),
        "due_given": np.array(due_given, dtype=bool),
        "verified_at": np.array(verified_at, dtype=np.int64),
    }
