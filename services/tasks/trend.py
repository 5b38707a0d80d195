"""Overdue counts by unit over time: how many open tasks each unit had overdue at each period's end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


def trend_rows(conn: Connection, *, before: int, units: tuple[str, ...] = ()) -> list[Any]:
    """(unit, assigned, due, resolved parts…) of each assigned task due before `before`, per unit involved
    (of the units given; every unit when none is).

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
    if units:
        lead = lead.where(tasks.c.lead_unit.in_(units))
        co = co.where(task_co_units.c.unit_id.in_(units))
    return [*conn.execute(lead), *conn.execute(co)]


class OverdueTrend:
    """Reads the trend from the tasks database, in the scheme's time zone.

    The year so far (no as_of) is kept per (year, period, units) under the data's version: the same change
    sequence, before the next instant at which an overdue count moves by itself (a task falling due, …),
    and the same period-ends passed; the last point is then "now" with the counts it had when computed.
    """

    CACHED = 1024

    def __init__(self, db: Database, tz: tzinfo, version: Callable[[], tuple[int, int, int]] | None = None):
        self.db = db
        self.tz = tz
        self.version = version
        self.lock = threading.Lock()
        self.cache: dict[tuple[int, str, tuple[str, ...], int], tuple[int, int, Trend]] = {}

    def trend(self, *, year: int, period: str, as_of: str, units: tuple[str, ...] = ()) -> Trend:
        """The trend of the units given (every unit when none is): a 乡镇's holds its 村's lines too."""
        check_year(year)
        period = period or "month"
        if period not in PERIODS:
            raise InvalidArgument("period", f"须为 month（按月）或 week（按周），不能是 {period!r}")
        if as_of or self.version is None:
            at = to_epoch(parse_instant(as_of, field="as_of")) if as_of else int(time.time())
            return self._compute(year or from_epoch(at, self.tz).year, period, at, units)
        sequence, next_change, at = self.version()
        year = year or from_epoch(at, self.tz).year
        key = (year, period, units, len(self._points(year, period, at)))
        with self.lock:
            found = self.cache.get(key)
        if found is not None and found[0] == sequence and (not found[1] or at < found[1]):
            kept = found[2]
            points = self._points(year, period, at)
            return Trend(year, period, points, kept.units, at)
        trend = self._compute(year, period, at, units)
        with self.lock:
            if len(self.cache) >= self.CACHED:
                self.cache.clear()
            self.cache[key] = (sequence, next_change, trend)
        return trend

    def _points(self, year: int, period: str, at: int) -> list[int]:
        """The period-ends of year passed by at; a year under way ends with at itself."""
        points = [t for t in period_ends(year, period, self.tz) if t <= at]
        year_start = to_epoch(datetime(year, 1, 1, tzinfo=self.tz))
        year_end = to_epoch(datetime(year + 1, 1, 1, tzinfo=self.tz))
        if year_start < at < year_end and (not points or points[-1] < at):
            points.append(at)
        return points

    def _compute(self, year: int, period: str, at: int, shown: tuple[str, ...]) -> Trend:
        points = self._points(year, period, at)
        with self.db.read() as conn:
            query = select(units.c.id, units.c.name)
            names = {u: n for u, n in conn.execute(query.where(units.c.id.in_(shown)) if shown else query)}
            rows = trend_rows(conn, before=points[-1], units=shown) if points else []
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
