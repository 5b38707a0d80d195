"""Every stored unit, task and task event, read for the ledger's export: SQL only, in batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, select

from services.tasks.storage.tables import persons, task_events, tasks, units

__all__ = ["EVENT_COLUMNS", "LEDGER_TABLES", "event_rows", "record_rows", "table_rows", "unassigned_tasks"]

# Record types kept in a table of their own, each with the columns that are not ledger fields.
LEDGER_TABLES: tuple[tuple[str, Table, tuple[str, ...]], ...] = (
    ("unit", units, ("created_at",)),
    ("person", persons, ("created_at",)),
)
# Columns whose ledger field has another name.
FIELD_NAMES = {"unit_id": "unit"}
# A task event's ledger fields and the columns they are in (an `extend`'s due_at joins them here).
EVENT_COLUMNS: dict[str, Column[Any]] = {
    "task": task_events.c.task_id,
    "kind": task_events.c.kind,
    "at": task_events.c.at,
    "by": task_events.c.by,
    "note": task_events.c.note,
    "due_at": task_events.c.due_at,
}
BATCH = 2000


def table_rows(conn: Connection, table: Table, skipped: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The rows of a record type's table as field → value, in id order."""
    columns = [c.label(FIELD_NAMES.get(c.name, c.name)) for c in table.c if c.name not in skipped]
    for row in conn.execute(select(*columns).order_by(table.c.id)):
        yield dict(row._mapping)


def record_rows(conn: Connection) -> Iterator[tuple[str, int | None]]:
    """(canonical record, assigned instant) of every task, by id: the same order in every stack."""
    query = select(tasks.c.record, tasks.c.assigned_at).order_by(tasks.c.id)
    for row in conn.execute(query.execution_options(yield_per=BATCH)):
        yield row.record, row.assigned_at


def event_rows(conn: Connection, kinds: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The events of the given kinds as field → value, in the order they were recorded."""
    query = (
        select(*(c.label(name) for name, c in EVENT_COLUMNS.items()))
        .where(task_events.c.kind.in_(list(kinds)))
        .order_by(task_events.c.seq)
    )
    for row in conn.execute(query.execution_options(yield_per=BATCH)):
        yield dict(row._mapping)


def unassigned_tasks(conn: Connection) -> set[str]:
    """Tasks never assigned (立项 only): the ledger has no line for them (assigned_at is required)."""
    return {r.id for r in conn.execute(select(tasks.c.id).where(tasks.c.assigned_at.is_(None)))}
