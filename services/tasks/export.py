"""The tasks service's half of the ledger export: every unit, task and event as the line that imports it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from typing import Any

from services.common.db import Database
from services.common.timeutil import iso
from services.tasks import ledger
from services.tasks.storage import ledger_rows

__all__ = ["ledger_lines"]

# Fields kept as epoch seconds in storage and written as instants in the ledger.
INSTANT_FIELDS = frozenset({"assigned_at", "due_at", "at"})
BATCH = 1000


def _line(record_type: str, fields: dict[str, Any], tz: tzinfo) -> str:
    """One ledger line: absent for what is empty (the import's defaults), instants with the zone's offset."""
    record: dict[str, Any] = {"type": record_type}
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        record[name] = iso(value, tz) if name in INSTANT_FIELDS and isinstance(value, int) else value
    return json.dumps(record, ensure_ascii=False)


def parent_first(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records with each one that names a `parent` held back until its parent has been given."""
    given: set[Any] = set()
    waiting: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        parent = record.get("parent")
        if parent and parent not in given:
            waiting.setdefault(parent, []).append(record)
            continue
        ready = [record]
        while ready:
            current = ready.pop()
            given.add(current.get("id"))
            yield current
            ready += reversed(waiting.pop(current.get("id"), []))
    for held in waiting.values():  # a parent stored but not exported (never assigned): given as it is
        yield from held


def _tasks(conn: Any) -> Iterator[dict[str, Any]]:
    unassigned = ledger_rows.unassigned_tasks(conn)
    for record, assigned in ledger_rows.record_rows(conn):
        fields: dict[str, Any] = json.loads(record)
        if fields.get("id") in unassigned:
            continue
        # The assignment as it happened (a task made by hand is assigned after it was drafted).
        fields["assigned_at"] = assigned
        yield fields


def _lines(db: Database, tz: tzinfo) -> Iterator[str]:
    with db.read() as conn:
        for record_type, table, skipped in ledger_rows.LEDGER_TABLES:
            for row in parent_first(ledger_rows.table_rows(conn, table, skipped)):
                yield _line(record_type, row, tz)
        unassigned = ledger_rows.unassigned_tasks(conn)
        for fields in parent_first(_tasks(conn)):
            yield _line("task", fields, tz)
        for event in ledger_rows.event_rows(conn, ledger.EVENT_KINDS):
            if event["task"] not in unassigned:
                yield _line("task_event", event, tz)


def ledger_lines(db: Database, tz: tzinfo) -> Iterator[list[str]]:
    """The lines in batches: units, then tasks (by id, a part after its task), then events as recorded."""
    batch: list[str] = []
    for line in _lines(db, tz):
        batch.append(line)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
