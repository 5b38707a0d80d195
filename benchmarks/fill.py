"""The generated year (benchmarks.ledger) written straight into the tasks tables: the in-process run's input.

Not the user's path (no import, no events replayed): the cheaper figure, kept beside it and labelled so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

from benchmarks.ledger import NO_TIME, TASK_TYPES, YEAR_START, Shape, TaskBatch, task_batches, unit_rows
from services.common import calendar as cal
from services.common.scheme import Scheme

TASK_COLUMNS = (
    "id",
    "title",
    "task_type",
    "source",
    "lead_unit",
    "priority",
    "state",
    "assigned_at",
    "due_at",
    "due_given",
    "reported_at",
    "created_at",
    "updated_at",
    "version",
    "record",
)
# created_at, updated_at, version, record of every task written
STAMPS = (YEAR_START, YEAR_START, 1, "")
EVENT_COLUMNS = ("task_id", "kind", "at", "by", "note", "rejected", "recorded_at")


def _computed_dues(batch: TaskBatch, scheme: Scheme, cache: dict[tuple[int, int], int]) -> np.ndarray:
    """The due instant of every task of batch: the explicit one, else its type's limit from its local date."""
    calendar, tz = scheme.calendar(), scheme.tz
    days = (batch.assigned + 8 * 3600) // 86_400
    due = batch.due.copy()
    for k in np.flatnonzero(due == NO_TIME).tolist():
        key = (int(batch.task_type[k]), int(days[k]))
        if key not in cache:
            limit = scheme.task_types[TASK_TYPES[key[0]]].limit
            start = datetime.fromtimestamp(int(batch.assigned[k]), tz)
            cache[key] = int(cal.due_at(assigned_at=start, limit=limit, calendar=calendar, tz=tz).timestamp())
        due[k] = cache[key]
    return due


def _rows(
    shape: Shape, scheme: Scheme
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]]:
    """Per batch: the tasks' rows, their report events' rows, and the (task, co-unit) pairs."""
    ids = [u for u, _, _ in unit_rows(shape)]
    cache: dict[tuple[int, int], int] = {}
    for batch in task_batches(shape):
        due = _computed_dues(batch, scheme, cache).tolist()
        tasks, events, co = [], [], []
        columns = zip(
            batch.task_type.tolist(),
            batch.lead.tolist(),
            batch.important.tolist(),
            batch.assigned.tolist(),
            due,
            (batch.due != NO_TIME).tolist(),
            batch.reported.tolist(),
            batch.co_unit.tolist(),
            strict=True,
        )
        for k, (kind, lead, important, assigned, due_at, given, reported, co_unit) in enumerate(
            columns, start=batch.first
        ):
            task = f"T{k}"
            at = reported if reported != NO_TIME else None
            priority = "important" if important else "normal"
            state = "reported" if at else "assigned"
            fields = (task, "", TASK_TYPES[kind], "", ids[lead], priority, state, assigned, due_at, given, at)
            tasks.append((*fields, *STAMPS))
            if at:
                events.append((task, "report", at, "", "", False, YEAR_START))
            if co_unit >= 0:
                co.append((task, ids[co_unit]))
        yield tasks, events, co


def fill_tasks_db(url: str, shape: Shape, scheme: Scheme) -> None:
    """The year written into the tasks tables at url, reports included: COPY on PostgreSQL, Core bulk
    inserts on SQLite; then ANALYZE."""
    units = [(u, name, category, YEAR_START) for u, name, category in unit_rows(shape)]
    if url.startswith("sqlite"):
        _fill_sqlite(url, units, _rows(shape, scheme))
        return
    import psycopg

    from benchmarks.served import pg_dsn

    with psycopg.connect(pg_dsn(url)) as conn, conn.cursor() as cursor:
        with cursor.copy("COPY units (id, name, category, created_at) FROM STDIN") as copy:
            for unit in units:
                copy.write_row(unit)
        for tasks, events, co in _rows(shape, scheme):
            for table, columns, rows in (
                ("tasks", TASK_COLUMNS, tasks),
                ("task_events", EVENT_COLUMNS, events),
                ("task_co_units", ("task_id", "unit_id"), co),
            ):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        cursor.execute("ANALYZE")
        conn.commit()


def _fill_sqlite(url: str, units: list[tuple[Any, ...]], batches: Iterator[Any]) -> None:
    from sqlalchemy import create_engine, insert

    from services.tasks.storage import tables

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(tables.units),
            [dict(zip(("id", "name", "category", "created_at"), u, strict=True)) for u in units],
        )
        for tasks, events, co in batches:
            conn.execute(insert(tables.tasks), [dict(zip(TASK_COLUMNS, t, strict=True)) for t in tasks])
            conn.execute(
                insert(tables.task_events), [dict(zip(EVENT_COLUMNS, e, strict=True)) for e in events]
            )
            if co:
                conn.execute(insert(tables.task_co_units), [{"task_id": t, "unit_id": u} for t, u in co])
    engine.dispose()
