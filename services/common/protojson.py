"""A protobuf message as plain JSON data, the shape the CLI's --json and the console's JSON API print."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["plain"]

_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def plain(message: Message, *, always_print_fields_with_no_presence: bool = False) -> dict[str, Any]:
    """The message as JSON data with counts as numbers (proto JSON writes 64-bit integers as strings)."""
    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=always_print_fields_with_no_presence,
    )
    _int64_as_numbers(message, data)
    return data


def _int64_as_numbers(message: Message, data: dict[str, Any]) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value, repeated = getattr(message, field.name), field.is_repeated
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            inner = entry.fields_by_name["value"]
            for key in data[field.name]:
                if inner.message_type is not None:
                    _int64_as_numbers(value[key], data[field.name][key])  # Kaohe's maps have string keys
                elif inner.type in _INT64:
                    data[field.name][key] = int(data[field.name][key])
        elif entry is not None and entry.full_name.startswith("kaohe."):
            for item, out in zip(
                value if repeated else [value],
                data[field.name] if repeated else [data[field.name]],
                strict=True,
            ):
                _int64_as_numbers(item, out)
        elif field.type in _INT64:
            data[field.name] = [int(v) for v in data[field.name]] if repeated else int(data[field.name])
