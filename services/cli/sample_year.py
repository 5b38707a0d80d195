"""The year a sample county is drawn over: its days and units, one Random, the tasks while generated."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.cli.sample_data import (
    DEPARTMENTS,
    OFFICE_HOURS,
    TOWNSHIPS,
)
from services.common.calendar import WorkCalendar
from services.common.scheme import Scheme, TaskType

Record = dict[str, Any]


@dataclass
class GeneratedTask:
    """A generated task while its events are written."""

    record: Record
    task_type: TaskType
    lead: str
    assigned: datetime
    due: datetime
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)

    @property
    def counted_report(self) -> datetime | None:
        """The report that stands (the latest one not rejected after it), among the kept events."""
        reports: list[datetime] = []
        for kind, at, _ in self.events:
            if kind == "report":
                reports.append(at)
            elif kind == "reject" and reports:
                reports.pop()
        return reports[-1] if reports else None

    @property
    def cancelled(self) -> bool:
        return any(kind == "cancel" for kind, _, _ in self.events)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def weighted(rng: random.Random, pairs: Sequence[tuple[str, int]], allowed: Iterable[str]) -> str | None:
    known = set(allowed)
    choices = [(name, w) for name, w in pairs if name in known]
    # Names the scheme has beyond the usual ones still occur, rarely.
    choices += [(name, 1) for name in sorted(known - {n for n, _ in pairs})]
    if not choices:
        return None
    return rng.choices([n for n, _ in choices], weights=[w for _, w in choices])[0]


class CountyYear:
    """One pass of generation over a year; every random draw comes from one Random, in a fixed order."""

    def __init__(self, *, scheme: Scheme, year: int, until: date, rng: random.Random) -> None:
        self.scheme = scheme
        self.year = year
        self.rng = rng
        self.tz = scheme.tz
        self.calendar: WorkCalendar = scheme.calendar()
        self.first_day = date(year, 1, 1)
        self.last_day = min(until, date(year, 12, 31))  # last day tasks and records are dated
        self.until_end = datetime.combine(until, time(23, 59, 59), tzinfo=self.tz)
        self.full_year = until >= date(year, 12, 31)
        self.days = [
            self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)
        ]
        self.working_days = [d for d in self.days if self.calendar.is_working_day(d)]
        self.units: list[tuple[str, str, str]] = [(u, n, "department") for u, n in DEPARTMENTS] + [
            (u, n, "township") for u, n in TOWNSHIPS
        ]
        self.names = {u: n for u, n, _ in self.units}
        self.departments = [u for u, _, c in self.units if c == "department"]
        self.townships = [u for u, _, c in self.units if c == "township"]

    # --- time helpers -----------------------------------------------------------------------

    def _at(self, d: date, minutes: int) -> datetime:
        return datetime.combine(d, time(minutes // 60, minutes % 60), tzinfo=self.tz)

    def _office_time(self, d: date) -> datetime:
        return self._at(d, self.rng.randrange(*OFFICE_HOURS))

    def _working_day_after(self, d: date, n: int) -> date:
        return self.calendar.add_working_days(d, n)

    def _random_day(
        self, *, working: bool, start: date | None = None, end: date | None = None
    ) -> date | None:
        pool = self.working_days if working else self.days
        lo, hi = start or self.first_day, end or self.last_day
        candidates = [d for d in pool if lo <= d <= hi]
        return self.rng.choice(candidates) if candidates else None
