"""Aggregate reads over the tasks' instants: reports that count, summaries, the scheduler's next wake-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from services.tasks.storage.tables import task_co_units, task_events, tasks


def counted_reports(conn: Connection, *, as_of: int, task_ids: Any) -> dict[str, int]:
    """Per task of task_ids (a subquery), the latest unrejected report at or before as_of (SCORING.md §4)."""
    query = (
        select(task_events.c.task_id, func.max(task_events.c.at))
        .where(
            task_events.c.kind == "report",
            task_events.c.rejected.is_(False),
            task_events.c.at <= as_of,
            task_events.c.task_id.in_(task_ids),
        )
        .group_by(task_events.c.task_id)
    )
    return {task_id: at for task_id, at in conn.execute(query)}


def summary_rows(conn: Connection, *, units: tuple[str, ...] = ()) -> list[Any]:
    """(unit, type, state, assigned, due, reported, cancelled) of each assigned task, per unit involved
    (of the units given; every unit when none is)."""
    base = (
        tasks.c.task_type,
        tasks.c.state,
        tasks.c.assigned_at,
        tasks.c.due_at,
        tasks.c.reported_at,
        tasks.c.cancelled_at,
    )
    lead = select(tasks.c.lead_unit.label("unit"), *base).where(tasks.c.due_at.is_not(None))
    co = (
        select(task_co_units.c.unit_id.label("unit"), *base)
        .select_from(tasks.join(task_co_units, task_co_units.c.task_id == tasks.c.id))
        .where(tasks.c.due_at.is_not(None))
    )
    if units:
        lead = lead.where(tasks.c.lead_unit.in_(units))
        co = co.where(task_co_units.c.unit_id.in_(units))
    return [*conn.execute(lead), *conn.execute(co)]


def next_instants(conn: Connection, *, after: int) -> list[int | None]:
    """The first due, report, cancellation and event instants later than after, and the first due at or
    within a day before it (whose one-day "emergency late" window closes later): each None when none."""
    first = (
        select(func.min(tasks.c.due_at)).where(tasks.c.due_at >= after),
        select(func.min(tasks.c.due_at)).where(tasks.c.due_at > after - 86400),
        select(func.min(tasks.c.reported_at)).where(tasks.c.reported_at > after),
        select(func.min(tasks.c.cancelled_at)).where(tasks.c.cancelled_at > after),
        select(func.min(task_events.c.at)).where(task_events.c.at > after),
    )
    return [conn.execute(query).scalar() for query in first]


def unreported_windows(conn: Connection, *, after: int) -> list[Any]:
    """(assigned_at, due_at) of each live task without a report that falls due after the instant after."""
    return list(
        conn.execute(
            select(tasks.c.assigned_at, tasks.c.due_at).where(
                tasks.c.due_at > after,
                tasks.c.assigned_at.is_not(None),
                tasks.c.reported_at.is_(None),
                tasks.c.state.not_in(["closed", "cancelled", "created"]),
            )
        )
    )
