"""Data functions the tasks service's attachments need beyond the common ones: they never commit."""

from __future__ import annotations

from sqlalchemy import Connection, select

from services.tasks.storage.tables import extension_requests


def extension_task(conn: Connection, ext_id: str) -> str | None:
    """The task an extension request is on, None when there is no such request."""
    found = conn.execute(
        select(extension_requests.c.task_id).where(extension_requests.c.id == ext_id)
    ).scalar()
    return str(found) if found is not None else None
