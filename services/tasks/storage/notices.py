"""Data functions for the holiday notices and the computed due instants they move; they never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, select, update

from services.common.db import advisory_xact_lock
from services.tasks.storage.tables import holiday_notices, task_events, tasks

# An arbitrary 63-bit key naming the notices' import lock among PostgreSQL's advisory locks.
NOTICES_LOCK = 0x6B616F6865_6E6F


@dataclass(frozen=True)
class NoticeRow:
    year: int
    canonical: str
    sha256: str
    imported_at: int
    imported_by: str


@dataclass(frozen=True)
class ComputedDue:
    """An assigned task whose due instant the scheme computes, not one its creator gave."""

    id: str
    task_type: str
    assigned_at: int
    due_at: int
    version: int


def notices(conn: Connection) -> list[NoticeRow]:
    """Every notice stored, by year."""
    rows = conn.execute(
        select(
            holiday_notices.c.year,
            holiday_notices.c.canonical,
            holiday_notices.c.sha256,
            holiday_notices.c.imported_at,
            holiday_notices.c.imported_by,
        ).order_by(holiday_notices.c.year)
    )
    return [NoticeRow(*row) for row in rows]


def lock_notices(conn: Connection) -> None:
    """Queues imports of notices one behind the other on PostgreSQL (SQLite's writers already are)."""
    if conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, NOTICES_LOCK)


def replace_notice(
    conn: Connection, *, year: int, text: str, canonical: str, sha256: str, at: int, by: str
) -> None:
    """The year's notice, in place of the one stored before (if any)."""
    conn.execute(delete(holiday_notices).where(holiday_notices.c.year == year))
    conn.execute(
        holiday_notices.insert().values(
            year=year, text=text, canonical=canonical, sha256=sha256, imported_at=at, imported_by=by
        )
    )


def open_computed_dues(conn: Connection, *, open_states: list[str], lock: bool) -> list[ComputedDue]:
    """The open, assigned tasks whose due instant is computed, in id order (their rows locked with lock)."""
    query = (
        select(tasks.c.id, tasks.c.task_type, tasks.c.assigned_at, tasks.c.due_at, tasks.c.version)
        .where(
            and_(
                tasks.c.due_given.is_(False),
                tasks.c.assigned_at.is_not(None),
                tasks.c.due_at.is_not(None),
                tasks.c.state.in_(open_states),
            )
        )
        .order_by(tasks.c.id)
    )
    if lock:
        query = query.with_for_update()
    return [ComputedDue(*row) for row in conn.execute(query)]


def move_due(conn: Connection, due: ComputedDue, *, to: int, at: int, by: str, kind: str, note: str) -> None:
    """The task's computed due instant moved to `to`, and the move in its history."""
    conn.execute(
        update(tasks)
        .where(tasks.c.id == due.id)
        .values(due_at=to, updated_at=at, version=tasks.c.version + 1)
    )
    conn.execute(
        task_events.insert().values(
            task_id=due.id, kind=kind, at=at, by=by, note=note, rejected=False, recorded_at=at
        )
    )
