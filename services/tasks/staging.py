"""The staging tables of one ledger import: temporary, private to its transaction, gone when it ends.

A file's new tasks and its events wait here, checked batch by batch as the stream arrives, until the
whole file has been read; then each touched task's history is replayed and the rows move to the real
tables with INSERT … SELECT. Bulk writes go by COPY on PostgreSQL, by executemany batches on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Connection, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

import_tasks = Table(
    "kaohe_import_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("line", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("task_type", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("lead_unit", String(64), nullable=False),
    Column("co_units", Text, nullable=False),
    Column("priority", String(64), nullable=False),
    Column("assigned_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("due_given", Boolean, nullable=False),
    Column("record", Text, nullable=False),
    Column("responsible", String(64), nullable=True),
    Column("leader", String(64), nullable=True),
    Column("parent", String(64), nullable=True),
    prefixes=["TEMPORARY"],
)

import_events = Table(
    "kaohe_import_events",
    metadata,
    Column("line", Integer, primary_key=True),
    Column("task_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("by", String(128), nullable=False),
    Column("note", Text, nullable=False),
    Column("rejected", Boolean, nullable=False),
    Column("due_at", BigInteger, nullable=True),
    prefixes=["TEMPORARY"],
)

TABLES = (import_tasks, import_events)


def create(conn: Connection) -> None:
    """The staging tables, empty, for this connection's transaction."""
    drop(conn)
    for table in TABLES:
        table.create(conn)


def drop(conn: Connection) -> None:
    for table in TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def analyze(conn: Connection) -> None:
    """Fresh planner statistics of the staging tables (PostgreSQL does not gather them for temporary ones)."""
    if conn.dialect.name == "postgresql":
        # A small sample does: the statistics only need to say the tables are large.
        conn.execute(text("SET LOCAL default_statistics_target = 10"))
        for table in TABLES:
            conn.execute(text(f"ANALYZE {table.name}"))


def insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows into table in one statement: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    names = list(rows[0].keys())
    insert_rows(conn, table, names, [[row[name] for name in names] for row in rows])


def insert_rows(conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """rows (values in the order of names) into table: COPY on PostgreSQL, one executemany elsewhere."""
    columns = ", ".join(f'"{name}"' for name in names)
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name != "postgresql":
        marks = ", ".join("?" for _ in names)
        raw.executemany(f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})', rows)
        return
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
