"""Overdue counts by unit over time: how many open tasks each unit had overdue at each period's end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, select

from services.common.db import Database
from services.common.errors import InvalidArgument
from services.common.ranges import check_year
from services.common.timeutil import from_epoch, parse_instant, to_epoch
from services.tasks.storage.tables import task_co_units, task_events, tasks, units

PERIODS = ("month", "week")
# Later than any instant a task holds: "never resolved".
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Trend:
    """The instants counted at (epoch seconds) and, per unit (id, name), one overdue count per instant."""

    year: int
    period: str
    points: list[int]
    units: list[tuple[str, str, list[int]]]
    as_of: int


def period_ends(year: int, period: str, tz: tzinfo) -> list[int]:
    """The end of each month (or week, Monday to Sunday) of year: the first instant of the next one."""
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    if period == "month":
        return [to_epoch(datetime(year + m // 12, m % 12 + 1, 1, tzinfo=tz)) for m in range(1, 13)]
    days = (7 - start.weekday()) % 7 or 7
    ends = []
    moment = start + timedelta(days=days)  # wall-clock arithmetic: midnight stays midnight
    while moment < end:
        ends.append(to_epoch(moment))
        moment += timedelta(days=7)
    ends.append(to_epoch(end))  # the year's last (short) week ends with the year
    return ends


def trend_rows(conn: Connection, *, before: int, unit: str) -> list[Any]:
    """(unit, assigned, due, resolved parts…) of each assigned task due before `before`, per unit involved.

    A task stops being open at its first report that no reject ever rejected (SCORING.md §4), its close or
    its cancellation, whichever comes first.
    """
    first_report = (
        select(task_events.c.task_id, func.min(task_events.c.at).label("at"))
        .where(task_events.c.kind == "report", task_events.c.rejected.is_(False))
        .group_by(task_events.c.task_id)
        .subquery()
    )
    columns = (
        tasks.c.assigned_at,
        tasks.c.due_at,
        first_report.c.at,
        tasks.c.closed_at,
        tasks.c.cancelled_at,
    )
    window = and_(tasks.c.assigned_at.is_not(None), tasks.c.due_at.is_not(None), tasks.c.due_at < before)
    joined = tasks.outerjoin(first_report, first_report.c.task_id == tasks.c.id)
    lead = select(tasks.c.lead_unit, *columns).select_from(joined).where(window)
    co = (
        select(task_co_units.c.unit_id, *columns)
        .select_from(joined.join(task_co_units, task_co_units.c.task_id == tasks.c.id))
        .where(window)
    )
    if unit:
        lead = lead.where(tasks.c.lead_unit == unit)
        co = co.where(task_co_units.c.unit_id == unit)
    return [*conn.execute(lead), *conn.execute(co)]


class OverdueTrend:
    """Reads the trend from the tasks database, in the scheme's time zone."""

    def __init__(self, db: Database, tz: tzinfo) -> None:
        self.db = db
        self.tz = tz

    def trend(self, *, year: int, period: str, as_of: str, unit: str) -> Trend:
        check_year(year)
        period = period or "month"
        if period not in PERIODS:
            raise InvalidArgument("period", f"must be month or week, not {period!r}")
        at = to_epoch(parse_instant(as_of, field="as_of")) if as_of else int(time.time())
        year = year or from_epoch(at, self.tz).year
        year_start = to_epoch(datetime(year, 1, 1, tzinfo=self.tz))
        points = [t for t in period_ends(year, period, self.tz) if t <= at]
        year_end = to_epoch(datetime(year + 1, 1, 1, tzinfo=self.tz))
        if year_start < at < year_end and (not points or points[-1] < at):
            points.append(at)  # the year so far ends now
        with self.db.read() as conn:
            query = select(units.c.id, units.c.name)
            names = {u: n for u, n in conn.execute(query.where(units.c.id == unit) if unit else query)}
            rows = trend_rows(conn, before=points[-1], unit=unit) if points else []
        counts = _count(rows, points)
        ordered = sorted(set(names) | set(counts))
        return Trend(
            year=year,
            period=period,
            points=points,
            units=[(u, names.get(u, u), counts.get(u, [0] * len(points))) for u in ordered],
            as_of=at,
        )


def _count(rows: list[Any], points: list[int]) -> dict[str, list[int]]:
    """Per unit, at each point t: assigned ≤ t, due < t, and not resolved by t (resolved > t)."""
    if not rows or not points:
        return {}
    unit = np.array([r[0] for r in rows], dtype=object)
    assigned = np.array([r[1] for r in rows], dtype=np.int64)
    due = np.array([r[2] for r in rows], dtype=np.int64)
    resolved = np.full(len(rows), NEVER, dtype=np.int64)
    for column in (3, 4, 5):
        values = np.array([NEVER if r[column] is None else r[column] for r in rows], dtype=np.int64)
        resolved = np.minimum(resolved, values)
    t = np.array(points, dtype=np.int64)[None, :]
    overdue = (assigned[:, None] <= t) & (due[:, None] < t) & (resolved[:, None] > t)
    codes, index = np.unique(unit, return_inverse=True)
    totals = np.zeros((len(codes), len(points)), dtype=np.int64)
    np.add.at(totals, index, overdue.astype(np.int64))
    return {str(code): [int(v) for v in totals[i]] for i, code in enumerate(codes)}
