"""A typed message read as the text its old string contract carried, for code that reads it as text.

The tasks contract carries closed sets as enums and instants as google.protobuf.Timestamp. The pages of the
console and the CLI's documents read a task as they always have: `as_text(message, zone)` is a read-only
view of the message whose enums are their codes ("red", "" for none), whose Timestamps are RFC 3339 text in
the zone ("2025-05-12T23:59:59+08:00", "" for none), whose nested messages are views again and whose
repeated fields are lists. services/common/wire_json.py does the recoding; this only gives it attributes.
"""

from __future__ import annotations

from datetime import tzinfo
from types import SimpleNamespace
from typing import Any

from google.protobuf.message import Message

from services.common.wire_json import in_zone, wire_plain


def as_text(message: Message, zone: tzinfo) -> Any:
    """The message's fields (every one, unset ones as their zero) as text, by attribute."""
    return _view(wire_plain(message, instant=in_zone(zone), always_print_fields_with_no_presence=True))


def text_data(message: Message, zone: tzinfo) -> dict[str, Any]:
    """The message as JSON data, every field printed, enums as codes and instants as text in the zone."""
    return wire_plain(message, instant=in_zone(zone), always_print_fields_with_no_presence=True)


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{key: _view(inner) for key, inner in value.items()})
    if isinstance(value, list):
        return [_view(inner) for inner in value]
    return value
