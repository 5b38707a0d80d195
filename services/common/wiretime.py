"""Instants and dates on the wire: google.protobuf.Timestamp and google.type.Date, and back.

An unset Timestamp means "none". Services fill a message's instants from epoch seconds or aware
datetimes; readers (the gateway, the CLI, the console) turn them back into the county's local time, so
that what a person reads and the CLI's `--json` stay as they were: RFC 3339 with the offset of the scheme's
time zone ("2025-05-12T23:59:59+08:00"), "" for none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date

from services.common.timeutil import iso


def set_instant(target: Timestamp, moment: datetime | int | None) -> None:
    """Fill target from an aware datetime or epoch seconds; None leaves it unset (clears it)."""
    if moment is None:
        target.Clear()
        return
    seconds = moment if isinstance(moment, int) else int(moment.timestamp())
    target.FromSeconds(seconds)


def instant(moment: datetime | int | None) -> Timestamp | None:
    """A Timestamp for a constructor keyword (None: the field stays unset)."""
    if moment is None:
        return None
    stamp = Timestamp()
    set_instant(stamp, moment)
    return stamp


def epoch_of(message: object, field: str) -> int | None:
    """Epoch seconds of a message's Timestamp field, None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    return int(getattr(message, field).seconds)


def local_of(message: object, field: str, tz: tzinfo) -> datetime | None:
    """An aware datetime in tz of a message's Timestamp field, None when unset."""
    seconds = epoch_of(message, field)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).astimezone(tz)


def rfc3339_of(message: object, field: str, tz: tzinfo) -> str:
    """The field as RFC 3339 with tz's offset, as the JSON output writes it; "" when unset."""
    return iso(epoch_of(message, field), tz) or ""


def wire_date(day: date | None) -> Date | None:
    """A google.type.Date (None: unset)."""
    return None if day is None else Date(year=day.year, month=day.month, day=day.day)


def date_of(value: Date) -> date | None:
    """A date from a google.type.Date; None for the zero (unset) date."""
    if value.year == 0:
        return None
    return date(value.year, value.month, value.day)
