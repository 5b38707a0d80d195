"""Instants and dates as the ledger writes them: ISO 8601 with an offset, stored as epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta, tzinfo

import numpy as np

from services.common.errors import InvalidArgument

NO_TIME = int(np.iinfo(np.int64).min)
_DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_PERIOD = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def parse_instant(value: object, *, field: str) -> datetime:
    """An aware datetime from an ISO 8601 string that carries an offset."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(field, "须为带时区的时间，如 2025-05-12T18:00:00+08:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} 不是有效的时间（ISO 8601）") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidArgument(field, f"{value!r} 没有时区，请写成 2025-05-12T18:00:00+08:00 的样子")
    if not 1990 <= parsed.year <= 2100:
        raise InvalidArgument(field, f"{value!r} 不在 1990–2100 年之间")
    return parsed


def parse_date(value: object, *, field: str) -> date:
    """A date from an ISO date string (YYYY-MM-DD) within a sane range."""
    if not isinstance(value, str):
        raise InvalidArgument(field, "须为日期，如 2025-06-01")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} 不是有效的日期（YYYY-MM-DD）") from None
    if not 1990 <= parsed.year <= 2100:
        raise InvalidArgument(field, f"{value!r} 不在 1990–2100 年之间")
    return parsed


def parse_period(value: object, *, field: str) -> str:
    """A reading period: YYYY, YYYY-MM or an ISO date, checked and returned as written."""
    if not isinstance(value, str) or not _PERIOD.match(value):
        raise InvalidArgument(field, "须为时期，写作 YYYY、YYYY-MM 或 YYYY-MM-DD")
    year = int(value[:4])
    if not 1990 <= year <= 2100:
        raise InvalidArgument(field, f"{value!r} 不在 1990–2100 年之间")
    if len(value) == 7 and not 1 <= int(value[5:7]) <= 12:
        raise InvalidArgument(field, f"{value!r} 的月份不存在")
    if len(value) == 10:
        parse_date(value, field=field)
    return value


def to_epoch(moment: datetime) -> int:
    """Whole epoch seconds of an aware datetime."""
    return int(moment.timestamp())


def from_epoch(seconds: int, tz: tzinfo) -> datetime:
    """The aware datetime of epoch seconds, in the given zone."""
    return datetime.fromtimestamp(seconds, tz)


def iso(seconds: int | None, tz: tzinfo) -> str:
    """RFC 3339 text of epoch seconds in a zone; empty for none."""
    if seconds is None or seconds == NO_TIME:
        return ""
    return from_epoch(seconds, tz).isoformat()


def now_epoch() -> int:
    """The current instant in epoch seconds."""
    return int(time.time())


def utc_now() -> datetime:
    """The current instant, aware."""
    return datetime.now(UTC)


# --- columns of instants (the scoring kernel's) ------------------------------------------------


def epoch_seconds(moment: datetime) -> int:
    """Whole epoch seconds, floored, so that `t <= as_of` on whole seconds means the same as on instants."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH_DAY).days


def _offset(seconds: int, tz: tzinfo) -> int:
    delta = datetime.fromtimestamp(seconds, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _offsets(t: np.ndarray, tz: tzinfo) -> np.ndarray | int:
    """The UTC offset in seconds at each epoch second in t; a plain int when it is one for all."""
    if t.size == 0:
        return 0
    utc_day = t // _DAY
    lo = int(utc_day.min())
    # Offsets are looked up once per distinct UTC day, not per row: a zone changes its offset
    # at most at a few instants a year, and those days are bisected to the second.
    distinct = np.unique(utc_day) if int(utc_day.max()) - lo > 200_000 else _present(utc_day)
    start = np.fromiter((_offset(int(d) * _DAY, tz) for d in distinct), dtype=np.int64, count=len(distinct))
    end = np.fromiter(
        (_offset(int(d) * _DAY + _DAY - 1, tz) for d in distinct), dtype=np.int64, count=len(distinct)
    )
    if (start == start[0]).all() and (end == start[0]).all():
        return int(start[0])
    pos = np.searchsorted(distinct, utc_day)
    off = start[pos]
    for k in np.flatnonzero(start != end):
        lo_s, hi_s = int(distinct[k]) * _DAY, int(distinct[k]) * _DAY + _DAY - 1
        while lo_s < hi_s:
            mid = (lo_s + hi_s) // 2
            if _offset(mid, tz) == end[k]:
                hi_s = mid
            else:
                lo_s = mid + 1
        off[(pos == k) & (t >= lo_s)] = end[k]
    return off


def local_days(t: np.ndarray, tz: tzinfo) -> np.ndarray:
    """The local calendar day (days since 1970-01-01) of each epoch second in t."""
    return (t + _offsets(t, tz)) // _DAY


def _present(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a compact int64 array, in linear time."""
    lo = int(values.min())
    seen = np.zeros(int(values.max()) - lo + 1, dtype=bool)
    seen[values - lo] = True
    return np.flatnonzero(seen).astype(np.int64) + lo


def iso_many(t: np.ndarray, tz: tzinfo) -> list[str | None]:
    """ISO 8601 local times with their offsets for epoch seconds; None for NO_TIME."""
    out: list[str | None] = [None] * len(t)
    has = np.flatnonzero(t != NO_TIME)
    if not has.size:
        return out
    seconds = t[has]
    off = np.broadcast_to(np.asarray(_offsets(seconds, tz), dtype=np.int64), seconds.shape)
    local = np.datetime_as_string((seconds + off).astype("datetime64[s]"), unit="s").tolist()
    zones = {
        o: f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
        for o in np.unique(off).tolist()
    }
    for k, text, o in zip(has.tolist(), local, off.tolist(), strict=True):
        out[k] = text + zones[o]
    return out


def iso_day(day: np.datetime64) -> str:
    """YYYY-MM-DD of a numpy day."""
    return str(day.astype("datetime64[D]"))
