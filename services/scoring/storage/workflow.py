"""Data functions of 容错 applications and of the timeline of appeals and applications; never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select, update

from services.common.auth import Identity
from services.common.db import chunks
from services.scoring.storage.tables import applications, records, runs, workflow_events

PENDING = "pending"


def get_application(conn: Connection, app_id: str) -> Row[Any] | None:
    return conn.execute(select(applications).where(applications.c.id == app_id)).first()


def count_applications(conn: Connection, *, year: int) -> int:
    query = select(func.count()).select_from(applications).where(applications.c.year == year)
    return int(conn.execute(query).scalar() or 0)


def insert_application(conn: Connection, **values: Any) -> None:
    conn.execute(applications.insert().values(**values))


def pending_for(conn: Connection, *, unit: str, target_type: str, target: str) -> str:
    """The id of the unit's pending application on that target, empty when there is none."""
    found = conn.execute(
        select(applications.c.id).where(
            and_(
                applications.c.unit == unit,
                applications.c.target_type == target_type,
                applications.c.target == target,
                applications.c.state == PENDING,
            )
        )
    ).scalar()
    return str(found or "")


def decide_application(
    conn: Connection, *, app_id: str, version: int, state: str, reason: str, now: int
) -> bool:
    """Moves a pending application to its decision; False when somebody decided it first."""
    result = conn.execute(
        update(applications)
        .where(and_(applications.c.id == app_id, applications.c.version == version))
        .values(state=state, decision_reason=reason, decided_at=now, version=version + 1)
    )
    return result.rowcount == 1


def list_applications(
    conn: Connection, *, unit: str, year: int, state: str, after: int, limit: int
) -> list[Row[Any]]:
    """Applications in the order they were filed, after the sequence number after."""
    query = select(applications).where(applications.c.seq > after)
    if unit:
        query = query.where(applications.c.unit == unit)
    if year:
        query = query.where(applications.c.year == year)
    if state:
        query = query.where(applications.c.state == state)
    return list(conn.execute(query.order_by(applications.c.seq).limit(limit)))


def pending_applications(conn: Connection, *, year: int) -> list[str]:
    """The ids of the year's applications nobody has decided, sorted."""
    query = select(applications.c.id).where(
        and_(applications.c.year == year, applications.c.state == PENDING)
    )
    return sorted(conn.execute(query).scalars())


def add_event(
    conn: Connection,
    *,
    subject_kind: str,
    subject_id: str,
    event: str,
    actor: Identity,
    at: int,
    outcome: str = "",
    reason: str = "",
) -> None:
    conn.execute(
        workflow_events.insert().values(
            subject_kind=subject_kind,
            subject_id=subject_id,
            event=event,
            outcome=outcome,
            reason=reason,
            actor=actor.subject[:256],
            actor_role=actor.role[:32],
            actor_unit=actor.unit[:64],
            at=at,
        )
    )


def events_of(conn: Connection, *, subject_kind: str, ids: Iterable[str]) -> dict[str, list[Row[Any]]]:
    """id → its timeline events in the order they happened."""
    found: dict[str, list[Row[Any]]] = {}
    for part in chunks(sorted(set(ids))):
        rows = conn.execute(
            select(workflow_events)
            .where(
                and_(workflow_events.c.subject_kind == subject_kind, workflow_events.c.subject_id.in_(part))
            )
            .order_by(workflow_events.c.seq)
        )
        for row in rows:
            found.setdefault(row.subject_id, []).append(row)
    return found


def list_appeals(conn: Connection, *, unit: str, after: int, limit: int) -> list[Row[Any]]:
    """Appeal records (voided too) in the order stored, after the sequence number after."""
    query = select(records).where(and_(records.c.kind == "appeal", records.c.seq > after))
    if unit:
        query = query.where(records.c.unit == unit)
    return list(conn.execute(query.order_by(records.c.seq).limit(limit)))


def record_years(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, id) → year of the stored records among keys."""
    found: dict[tuple[str, str], int] = {}
    by_kind: dict[str, set[str]] = {}
    for kind, rid in keys:
        by_kind.setdefault(kind, set()).add(rid)
    for kind, ids in by_kind.items():
        for part in chunks(sorted(ids)):
            query = select(records.c.rid, records.c.year).where(
                and_(records.c.kind == kind, records.c.rid.in_(part))
            )
            for row in conn.execute(query):
                found[(kind, row.rid)] = int(row.year)
    return found


def current_runs(conn: Connection, *, year: int) -> list[Row[Any]]:
    """The year's publicised or final runs that nothing superseded, newest first."""
    query = (
        select(runs.c.id, runs.c.state, runs.c.appeal_deadline)
        .where(
            and_(runs.c.year == year, runs.c.superseded_by == "", runs.c.state.in_(("publicised", "final")))
        )
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    )
    return list(conn.execute(query))
