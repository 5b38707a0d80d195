"""The attachments table each service keeping evidence has (tasks, scoring), and its data functions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, Row, String, Table, insert, select


def attachments_table(metadata: MetaData, name: str = "attachments") -> Table:
    """附件's records: the file lives outside the database under its SHA-256; a record is never deleted,
    so a voided (撤销, 作废) item keeps its evidence."""
    return Table(
        name,
        metadata,
        Column("id", String(64), primary_key=True),
        Column("sha256", String(64), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("media_type", String(100), nullable=False),
        Column("file_name", String(255), nullable=False),
        Column("item_kind", String(16), nullable=False),
        Column("item_id", String(64), nullable=False),
        Column("uploaded_by", String(200), nullable=False),
        Column("uploaded_at", BigInteger, nullable=False),
        Index(f"ix_{name}_item", "item_kind", "item_id"),
    )


def add(conn: Connection, table: Table, **record: Any) -> None:
    """Stores one attachment's record (never commits)."""
    conn.execute(insert(table).values(**record))


def get(conn: Connection, table: Table, attachment_id: str) -> Row[Any] | None:
    return conn.execute(select(table).where(table.c.id == attachment_id)).first()


def of_item(conn: Connection, table: Table, kind: str, item_id: str) -> list[Row[Any]]:
    """An item's attachments in the order uploaded."""
    query = (
        select(table)
        .where(table.c.item_kind == kind, table.c.item_id == item_id)
        .order_by(table.c.uploaded_at, table.c.id)
    )
    return list(conn.execute(query))
