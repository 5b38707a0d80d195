"""Typed gateway messages as the JSON the CLI and the console have always written.

The gateway's contracts carry closed sets as enums and instants as google.protobuf.Timestamp; what people
and scripts read stays as it was: an enum as its code ("office", "red", "" for none), an instant as RFC 3339
text in the zone the reader gives ("" for none), a google.type.Date as YYYY-MM-DD, in the same order
proto JSON gave the old string fields.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.protoenum import enum_code
from services.common.protojson import plain
from services.common.scheme import DEFAULT_TIMEZONE
from services.common.timeutil import iso

Instant = Callable[[Timestamp], str]
TIMESTAMP = "google.protobuf.Timestamp"
DATE = "google.type.Date"


def in_zone(zone: tzinfo) -> Instant:
    """An instant as RFC 3339 with zone's offset ("2025-05-12T23:59:59+08:00")."""
    return lambda stamp: iso(int(stamp.seconds), zone)


def in_utc(stamp: Timestamp) -> str:
    """An instant as RFC 3339 in UTC ("2025-05-12T15:59:59+00:00")."""
    return datetime.fromtimestamp(int(stamp.seconds), UTC).isoformat()


def county_plain(reply: Message, time_zone: str) -> dict[str, Any]:
    """A view (overview, dashboard) as `--json` writes it: every field, instants in the county's zone,
    the zone itself left out."""
    return wire_plain(
        reply,
        instant=in_zone(ZoneInfo(time_zone or DEFAULT_TIMEZONE)),
        always_print_fields_with_no_presence=True,
        omit={"time_zone"},
    )


def wire_plain(
    message: Message,
    *,
    instant: Instant,
    always_print_fields_with_no_presence: bool = False,
    omit: Collection[str] = (),
) -> dict[str, Any]:
    """The message as JSON data (client.plain), its enums as codes and its instants as text."""
    data = plain(message, always_print_fields_with_no_presence=always_print_fields_with_no_presence)
    return _recoded(message, data, instant, always_print_fields_with_no_presence, omit)


def _recoded(
    message: Message, data: dict[str, Any], instant: Instant, always: bool, omit: Collection[str]
) -> dict[str, Any]:
    # Proto JSON writes the fields set first (by number), then, printing every field, the others.
    present = [field for field, _ in message.ListFields()]
    rest = [field for field in message.DESCRIPTOR.fields if field not in present] if always else []
    out: dict[str, Any] = {}
    for field in present + rest:
        name, value = field.name, getattr(message, field.name)
        inner = field.message_type
        if name in omit:
            continue
        if inner is not None and inner.full_name == TIMESTAMP and field.is_repeated:
            out[name] = [instant(v) for v in value]
        elif inner is not None and inner.full_name == TIMESTAMP:
            out[name] = instant(value) if message.HasField(name) else ""
        elif inner is not None and inner.full_name == DATE:
            # A calendar day as the ledger writes it (YYYY-MM-DD).
            day = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            out[name] = day if message.HasField(name) else ""
        elif field.enum_type is not None:
            kind = cast(EnumDescriptor, field.enum_type)
            codes = [enum_code(kind, v) for v in value] if field.is_repeated else None
            out[name] = codes if codes is not None else enum_code(kind, value)
        elif name not in data:
            continue
        elif inner is not None and not inner.GetOptions().map_entry and inner.full_name.startswith("kaohe."):
            if field.is_repeated:
                out[name] = [
                    _recoded(v, d, instant, always, ()) for v, d in zip(value, data[name], strict=True)
                ]
            else:
                out[name] = _recoded(value, data[name], instant, always, ())
        else:
            out[name] = data[name]
    return out


def utc_text(message: Message, field: str) -> str:
    """A message's Timestamp field as RFC 3339 in UTC, "" when unset (for a reader that shows it locally)."""
    return in_utc(getattr(message, field)) if message.HasField(field) else ""


def lenient_number(enum: EnumDescriptor, code: str) -> int:
    """The enum value of a code a form sent; the zero value for one it does not know (the server refuses
    that naming the field, as it refused the old strings)."""
    value = enum.values_by_name.get(enum.values_by_number[0].name.removesuffix("UNSPECIFIED") + code.upper())
    return value.number if value is not None else 0
