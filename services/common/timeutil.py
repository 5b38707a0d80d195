"""Instants and dates as the ledger writes them: ISO 8601 with an offset, stored as epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, tzinfo

import numpy as np

from services.common.errors import InvalidArgument

NO_TIME = int(np.iinfo(np.int64).min)
_PERIOD = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def parse_instant(value: object, *, field: str) -> datetime:
    """An aware datetime from an ISO 8601 string that carries an offset."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(
            field, "must be an ISO 8601 time with an offset, e.g. 2025-05-12T18:00:00+08:00"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidArgument(field, f"{value!r} has no offset; write it like 2025-05-12T18:00:00+08:00")
    if not 1990 <= parsed.year <= 2100:
        raise InvalidArgument(field, f"{value!r} is outside the years 1990–2100")
    return parsed


def parse_date(value: object, *, field: str) -> date:
    """A date from an ISO date string (YYYY-MM-DD) within a sane range."""
    if not isinstance(value, str):
        raise InvalidArgument(field, "must be an ISO date, e.g. 2025-06-01")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    if not 1990 <= parsed.year <= 2100:
        raise InvalidArgument(field, f"{value!r} is outside the years 1990–2100")
    return parsed


def parse_period(value: object, *, field: str) -> str:
    """A reading period: YYYY, YYYY-MM or an ISO date, checked and returned as written."""
    if not isinstance(value, str) or not _PERIOD.match(value):
        raise InvalidArgument(field, "must be a period written YYYY, YYYY-MM or YYYY-MM-DD")
    year = int(value[:4])
    if not 1990 <= year <= 2100:
        raise InvalidArgument(field, f"{value!r} is outside the years 1990–2100")
    if len(value) == 7 and not 1 <= int(value[5:7]) <= 12:
        raise InvalidArgument(field, f"{value!r} has no such month")
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
