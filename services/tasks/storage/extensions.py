"""Data functions of extension requests (延期申请) and the `extend` event: they never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, func, select, update

from services.common.auth import Identity
from services.tasks.storage.tables import extension_requests, task_events, tasks

PENDING = "pending"


def get_request(conn: Connection, request_id: str) -> Row[Any] | None:
    """One request with its task's title, or None."""
    query = (
        select(extension_requests, tasks.c.title.label("task_title"))
        .select_from(extension_requests.join(tasks, tasks.c.id == extension_requests.c.task_id))
        .where(extension_requests.c.id == request_id)
    )
    return conn.execute(query).first()


def lock_request(conn: Connection, request_id: str) -> None:
    """Holds the request's row to the end of the transaction, so that two decisions on it queue.

    (SQLite ignores FOR UPDATE: its writers already run one at a time.)
    """
    conn.execute(
        select(extension_requests.c.seq).where(extension_requests.c.id == request_id).with_for_update()
    )


def pending_for(conn: Connection, task_id: str) -> str:
    """The id of the task's request still awaiting a decision, empty when there is none."""
    found = conn.execute(
        select(extension_requests.c.id).where(
            and_(extension_requests.c.task_id == task_id, extension_requests.c.state == PENDING)
        )
    ).scalar()
    return str(found or "")


def count_filed(conn: Connection, *, prefix: str) -> int:
    """How many requests have an id starting with prefix (a year's numbering)."""
    query = select(func.count()).where(extension_requests.c.id.startswith(prefix, autoescape=True))
    return int(conn.execute(query).scalar() or 0)


def insert_request(
    conn: Connection,
    *,
    request_id: str,
    task_id: str,
    unit: str,
    reason: str,
    asked_due: int,
    due_before: int,
    actor: Identity,
    at: int,
) -> None:
    conn.execute(
        extension_requests.insert().values(
            id=request_id,
            task_id=task_id,
            unit=unit,
            reason=reason,
            asked_due=asked_due,
            due_before=due_before,
            state=PENDING,
            filed_at=at,
            filed_by=actor.subject,
            filed_role=actor.role,
            filed_unit=actor.unit,
            granted_due=None,
            decided_at=None,
            decided_by="",
            decided_role="",
            decided_unit="",
            decision_reason="",
            version=1,
        )
    )


def decide_request(
    conn: Connection,
    *,
    request_id: str,
    version: int,
    state: str,
    granted_due: int | None,
    reason: str,
    actor: Identity,
    at: int,
) -> bool:
    """Moves a pending request to its decision; False when somebody decided it first."""
    result = conn.execute(
        update(extension_requests)
        .where(
            and_(
                extension_requests.c.id == request_id,
                extension_requests.c.version == version,
                extension_requests.c.state == PENDING,
            )
        )
        .values(
            state=state,
            granted_due=granted_due,
            decision_reason=reason,
            decided_at=at,
            decided_by=actor.subject,
            decided_role=actor.role,
            decided_unit=actor.unit,
            version=version + 1,
        )
    )
    return result.rowcount == 1


def list_requests(
    conn: Connection,
    *,
    unit: str,
    state: str,
    task_id: str,
    filed_from: int | None,
    filed_before: int | None,
    after: int,
    limit: int,
) -> list[Row[Any]]:
    """Requests in the order they were filed, after the sequence number after, with their tasks' titles."""
    query = (
        select(extension_requests, tasks.c.title.label("task_title"))
        .select_from(extension_requests.join(tasks, tasks.c.id == extension_requests.c.task_id))
        .where(extension_requests.c.seq > after)
    )
    if unit:
        query = query.where(extension_requests.c.unit == unit)
    if state:
        query = query.where(extension_requests.c.state == state)
    if task_id:
        query = query.where(extension_requests.c.task_id == task_id)
    if filed_from is not None:
        query = query.where(extension_requests.c.filed_at >= filed_from)
    if filed_before is not None:
        query = query.where(extension_requests.c.filed_at < filed_before)
    return list(conn.execute(query.order_by(extension_requests.c.seq).limit(limit)))


def insert_extend_event(
    conn: Connection, *, task_id: str, at: int, by: str, note: str, due_at: int, recorded_at: int
) -> int:
    """The `extend` event of a task: its new due instant (SCORING.md §2)."""
    result = conn.execute(
        task_events.insert().values(
            task_id=task_id,
            kind="extend",
            at=at,
            by=by,
            note=note,
            rejected=False,
            recorded_at=recorded_at,
            due_at=due_at,
        )
    )
    key = result.inserted_primary_key
    return int(key[0]) if key else 0
