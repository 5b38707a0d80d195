"""Data functions of attachments' records: they never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select

from services.tasks.storage.tables import attachments, extension_requests


def add(conn: Connection, **record: Any) -> None:
    """Stores one attachment's record."""
    conn.execute(insert(attachments).values(**record))


def get(conn: Connection, attachment_id: str) -> Row[Any] | None:
    return conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()


def of_item(conn: Connection, kind: str, item_id: str) -> list[Row[Any]]:
    """An item's attachments in the order uploaded."""
    query = (
        select(attachments)
        .where(attachments.c.item_kind == kind, attachments.c.item_id == item_id)
        .order_by(attachments.c.uploaded_at, attachments.c.id)
    )
    return list(conn.execute(query))


def extension_task(conn: Connection, ext_id: str) -> str | None:
    """The task an extension request is on, None when there is no such request."""
    found = conn.execute(
        select(extension_requests.c.task_id).where(extension_requests.c.id == ext_id)
    ).scalar()
    return str(found) if found is not None else None
