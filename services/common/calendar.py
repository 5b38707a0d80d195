"""Working-day calendar, due instants and 蓝黄红 colours (SCORING.md §1–§3)."""

from __future__ import annotations

import calendar as _stdlib_calendar
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Literal

import chinese_calendar
import numpy as np

from services.common.holiday_notice import HolidayNotice
from services.common.limits import Limit
from services.common.vocabulary import COLOURS

__all__ = [
    "COLOUR_LABELS",
    "Colour",
    "Source",
    "WorkCalendar",
    "colour",
    "colours_many",
    "due_at",
    "progress_deadlines",
]

log = logging.getLogger("kaohe.calendar")

Colour = Literal["blue", "yellow", "red"]
# Where a year's working days come from (FORMATS.md `kaohe calendar show`).
Source = Literal["scheme", "notice", "statutory", "weekdays"]
COLOUR_LABELS: dict[str, str] = dict(COLOURS)

_END_OF_DAY = time(23, 59, 59)
_EPOCH_DAY = date(1970, 1, 1)

# The warning is for the operator, who needs to hear about a missing holiday notice once, not
# once per task; instances come and go (one per scheme and run), so the memory is per process.
_warned_years: set[int] = set()
_warned_lock = threading.Lock()


@cache
def _statutory(d: date) -> bool | None:
    """The statutory answer for a date, or None when chinese_calendar has no data for its year."""
    # chinese_calendar re-derives its covered range on every call, so answers are memoised.
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


@cache
def _year_is_covered(year: int) -> bool:
    return _statutory(date(year, 1, 1)) is not None


def _warn_uncovered(year: int) -> None:
    with _warned_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    log.warning(
        "%d 年没有法定节假日数据：暂按周一至周五为工作日计算；"
        "请用 kaohe calendar import 导入该年的节假日安排通知",
        year,
    )


def _to_day_numbers(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype="datetime64[D]").astype(np.int64)


class WorkCalendar:
    """Working days: extra workdays, extra holidays, an imported notice, the statutory calendar, Mon–Fri."""

    def __init__(
        self,
        *,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        notices: Mapping[int, HolidayNotice] | None = None,
    ) -> None:
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        self.notices: Mapping[int, HolidayNotice] = dict(notices or {})
        # A notice decides the dates it names even in a neighbouring year (2019's 元旦 ran from
        # 2018-12-30; 2012's notice made 2011-12-31 a working day), and every other date of its year.
        self._notice_days: dict[date, bool] = {}
        for year in sorted(self.notices):
            self._notice_days.update(dict.fromkeys(self.notices[year].holidays, False))
            self._notice_days.update(dict.fromkeys(self.notices[year].workdays, True))
        self._uncovered: set[int] = set()
        self._lock = threading.Lock()
        # Whole-year table for the vectorised path: day numbers (days since 1970-01-01) from
        # _first to _first + len - 1, with prefix sums of working days and fallback-decided days.
        self._first = 0
        self._working_cum = np.zeros(0, dtype=np.int64)
        self._fallback_cum = np.zeros(0, dtype=np.int64)

    @property
    def uncovered_years(self) -> frozenset[int]:
        """Years this instance answered with the Monday-to-Friday fallback so far."""
        with self._lock:
            return frozenset(self._uncovered)

    def _note_fallback(self, year: int) -> None:
        with self._lock:
            self._uncovered.add(year)
        _warn_uncovered(year)

    def is_working_day(self, d: date) -> bool:
        """Whether d is a working day (SCORING.md §1)."""
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a date, not a datetime; take the local date first")
        if d in self._extra_workdays:
            return True
        if d in self._extra_holidays:
            return False
        noticed = self._notice_days.get(d)
        if noticed is not None:
            return noticed
        if d.year in self.notices:
            return d.weekday() < 5
        statutory = _statutory(d)
        if statutory is not None:
            return statutory
        self._note_fallback(d.year)
        return d.weekday() < 5

    def source(self, year: int) -> Source:
        """What decides the year: an imported notice, the statutory calendar, the scheme's dates, Mon–Fri."""
        if year in self.notices:
            return "notice"
        if _year_is_covered(year):
            return "statutory"
        if any(d.year == year for d in self._extra_holidays | self._extra_workdays):
            return "scheme"
        return "weekdays"

    def year_days(self, year: int) -> tuple[list[date], list[date]]:
        """The year's holidays (days off it declares, and any Monday–Friday off) and make-up
        working days on a Saturday or Sunday, each in date order."""
        first = date(year, 1, 1)
        days = [first + timedelta(days=k) for k in range(366 if _stdlib_calendar.isleap(year) else 365)]
        declared: set[date] = set(self._extra_holidays)
        if year in self.notices:
            declared |= self.notices[year].holidays
        elif _year_is_covered(year):
            declared |= {d for d in chinese_calendar.holidays if d.year == year}
        declared |= {d for d, working in self._notice_days.items() if not working}
        working = {d: self.is_working_day(d) for d in days}
        holidays = [d for d in days if not working[d] and (d in declared or d.weekday() < 5)]
        workdays = [d for d in days if working[d] and d.weekday() >= 5]
        return holidays, workdays

    def working_days_between(self, a: date, b: date) -> int:
        """The number of working days d with a < d <= b; 0 when b <= a."""
        count = 0
        d = a + timedelta(days=1)
        while d <= b:
            count += self.is_working_day(d)
            d += timedelta(days=1)
        return count

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after d (n >= 1)."""
        if n < 1:
            raise ValueError(f"add_working_days needs n >= 1, got {n}")
        while n:
            d += timedelta(days=1)
            n -= self.is_working_day(d)
        return d

    def working_days_between_many(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Vectorised working_days_between over datetime64[D] arrays; NaT on either side gives 0."""
        a_days = _to_day_numbers(a)
        b_days = _to_day_numbers(b)
        a_days, b_days = np.broadcast_arrays(a_days, b_days)
        nat = np.iinfo(np.int64).min
        valid = (a_days != nat) & (b_days != nat) & (b_days > a_days)
        if not valid.any():
            return np.zeros(a_days.shape, dtype=np.int64)
        a_v = a_days[valid]
        b_v = b_days[valid]
        first, working_cum, fallback_cum = self._table(int(a_v.min()), int(b_v.max()))
        out = np.zeros(a_days.shape, dtype=np.int64)
        out[valid] = working_cum[b_v - first] - working_cum[a_v - first]
        self._note_fallback_rows(a_v, b_v, first, fallback_cum)
        return out

    def _note_fallback_rows(
        self, a_v: np.ndarray, b_v: np.ndarray, first: int, fallback_cum: np.ndarray
    ) -> None:
        # Record exactly the years where some row's interval (a, b] holds a day the fallback
        # decided, so the vectorised path reports the same years as the scalar one would.
        lo_year = (_EPOCH_DAY + timedelta(days=int(a_v.min()) + 1)).year
        hi_year = (_EPOCH_DAY + timedelta(days=int(b_v.max()))).year
        for year in range(lo_year, hi_year + 1):
            if _year_is_covered(year) or year in self.notices:
                continue
            start = (date(year, 1, 1) - _EPOCH_DAY).days - first
            end = (date(year, 12, 31) - _EPOCH_DAY).days - first
            lo = np.maximum(a_v - first, start - 1)
            hi = np.minimum(b_v - first, end)
            inside = hi > lo
            if inside.any() and bool(np.any(fallback_cum[hi[inside]] - fallback_cum[lo[inside]] > 0)):
                self._note_fallback(year)

    def _table(self, lo_day: int, hi_day: int) -> tuple[int, np.ndarray, np.ndarray]:
        """A table covering day numbers lo_day..hi_day, grown to whole years and kept for later calls."""
        with self._lock:
            have_lo = self._first
            have_hi = self._first + len(self._working_cum) - 1
            if len(self._working_cum) and have_lo <= lo_day and hi_day <= have_hi:
                return self._first, self._working_cum, self._fallback_cum
            lo_year = (_EPOCH_DAY + timedelta(days=lo_day)).year
            hi_year = (_EPOCH_DAY + timedelta(days=hi_day)).year
            if len(self._working_cum):
                lo_year = min(lo_year, (_EPOCH_DAY + timedelta(days=have_lo)).year)
                hi_year = max(hi_year, (_EPOCH_DAY + timedelta(days=have_hi)).year)
            flags = [self._year_flags(year) for year in range(lo_year, hi_year + 1)]
            # Index i of a prefix sum counts days first .. first + i inclusive, so the count over
            # (a, b] is cum[b - first] - cum[a - first].
            self._first = (date(lo_year, 1, 1) - _EPOCH_DAY).days
            self._working_cum = np.cumsum(np.concatenate([w for w, _ in flags]), dtype=np.int64)
            self._fallback_cum = np.cumsum(np.concatenate([f for _, f in flags]), dtype=np.int64)
            return self._first, self._working_cum, self._fallback_cum

    def _year_flags(self, year: int) -> tuple[np.ndarray, np.ndarray]:
        """Working-day and fallback-decided flags for every day of a year, without noting anything."""
        start = np.datetime64(f"{year:04d}-01-01", "D")
        n = 366 if _stdlib_calendar.isleap(year) else 365
        days = start + np.arange(n)
        if year in self.notices:
            base = ((days.astype(np.int64) + 3) % 7) < 5
            fallback = np.zeros(n, dtype=bool)
        elif _year_is_covered(year):
            base = np.fromiter(
                (bool(_statutory(date(year, 1, 1) + timedelta(days=i))) for i in range(n)),
                dtype=bool,
                count=n,
            )
            fallback = np.zeros(n, dtype=bool)
        else:
            # 1970-01-01 was a Thursday: day number + 3 mod 7 gives Monday = 0.
            weekday = (days.astype(np.int64) + 3) % 7
            base = weekday < 5
            fallback = np.ones(n, dtype=bool)
        working = base.copy()
        for d, noticed in self._notice_days.items():
            if d.year == year:
                working[d.timetuple().tm_yday - 1] = noticed
                fallback[d.timetuple().tm_yday - 1] = False
        for d in self._extra_holidays:
            if d.year == year:
                working[d.timetuple().tm_yday - 1] = False
                fallback[d.timetuple().tm_yday - 1] = False
        for d in self._extra_workdays:
            if d.year == year:
                working[d.timetuple().tm_yday - 1] = True
                fallback[d.timetuple().tm_yday - 1] = False
        return working.astype(np.int64), fallback.astype(np.int64)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone offset, got naive {value.isoformat()}")


def _end_of_day(d: date, tz: tzinfo) -> datetime:
    return datetime.combine(d, _END_OF_DAY, tzinfo=tz)


def _add_months(d: date, months: int) -> date:
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    last = _stdlib_calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def due_at(*, assigned_at: datetime, limit: Limit, calendar: WorkCalendar, tz: tzinfo) -> datetime:
    """The due instant of a task assigned at assigned_at under limit (SCORING.md §2), aware in tz."""
    _require_aware("assigned_at", assigned_at)
    if limit.amount < 1:
        raise ValueError(f"a limit needs a positive amount, got {limit.amount} {limit.unit}")
    if limit.unit == "minutes":
        return (assigned_at + timedelta(minutes=limit.amount)).astimezone(tz)
    if limit.unit == "hours":
        return (assigned_at + timedelta(hours=limit.amount)).astimezone(tz)
    local_date = assigned_at.astimezone(tz).date()
    if limit.unit == "working_days":
        return _end_of_day(calendar.add_working_days(local_date, limit.amount), tz)
    if limit.unit == "calendar_days":
        return _end_of_day(local_date + timedelta(days=limit.amount), tz)
    if limit.unit == "months":
        return _end_of_day(_add_months(local_date, limit.amount), tz)
    raise ValueError(f"unknown limit unit {limit.unit!r}")


# progress_deadlines takes a due_at argument, which hides the function inside it.
_compute_due = due_at


def colour(*, at: datetime, assigned_at: datetime, due_at: datetime, yellow_threshold: float) -> Colour:
    """The 蓝黄红 colour of an open task at instant at (SCORING.md §3)."""
    if at > due_at:
        return "red"
    elapsed = (at - assigned_at).total_seconds()
    allowed = (due_at - assigned_at).total_seconds()
    if elapsed >= yellow_threshold * allowed:
        return "yellow"
    return "blue"


def colours_many(
    *, at: int, assigned_at: np.ndarray, due_at: np.ndarray, yellow_threshold: float
) -> np.ndarray:
    """colour() over epoch-second int64 arrays: an array of "blue" / "yellow" / "red"."""
    assigned = np.asarray(assigned_at, dtype=np.int64)
    due = np.asarray(due_at, dtype=np.int64)
    # Same float arithmetic as colour(), so both agree on the yellow boundary.
    elapsed = (at - assigned).astype(np.float64)
    allowed = (due - assigned).astype(np.float64)
    yellow = elapsed >= yellow_threshold * allowed
    return np.where(due < at, "red", np.where(yellow, "yellow", "blue"))


def progress_deadlines(
    *, assigned_at: datetime, due_at: datetime, every: Limit, calendar: WorkCalendar, tz: tzinfo
) -> list[datetime]:
    """Progress deadlines before due_at: each `every` after the previous, the first after assigned_at."""
    _require_aware("due_at", due_at)
    deadlines: list[datetime] = []
    start = assigned_at
    while True:
        step = _compute_due(assigned_at=start, limit=every, calendar=calendar, tz=tz)
        if step >= due_at:
            return deadlines
        deadlines.append(step)
        start = step
