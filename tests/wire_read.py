"""Typed messages read in tests as their strings used to read: enums as codes, instants as RFC 3339 in the
example scheme's zone (Asia/Shanghai), dates as YYYY-MM-DD, nested kaohe messages alike."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.message import Message

from services.common.protoenum import enum_code
from services.common.wiretime import date_of, rfc3339_of

ZONE = ZoneInfo("Asia/Shanghai")


class Read:
    """A message whose fields read as the old string fields did; other attributes pass through."""

    def __init__(self, message: Message) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        message = self.__dict__["message"]
        field = message.DESCRIPTOR.fields_by_name.get(name)
        value = getattr(message, name)
        if field is None:
            return value
        if field.enum_type is not None:
            if field.is_repeated:
                return [enum_code(field.enum_type, v) for v in value]
            return enum_code(field.enum_type, value)
        kind = field.message_type.full_name if field.message_type is not None else ""
        if kind == "google.protobuf.Timestamp":
            return rfc3339_of(message, name, ZONE)
        if kind == "google.type.Date":
            day = date_of(value)
            return day.isoformat() if day else ""
        if kind.startswith("kaohe."):
            return [Read(v) for v in value] if field.is_repeated else Read(value)
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Read) and self.message == other.message

    def __hash__(self) -> int:
        return hash(self.message.SerializeToString(deterministic=True))

    def __repr__(self) -> str:
        return f"Read({self.message!r})"


def read(message: Any) -> Any:
    """The message as Read (typed Any so that tests read its fields freely)."""
    return Read(message)


def attachment_kind(text: str) -> Any:
    """An attachment's item kind given as its code or its Chinese label (as the CLI and the console name it)
    as the enum; an unknown word as unspecified, which the services refuse naming item_kind."""
    from kaohe.common.v1 import common_pb2

    from services.cli.commands.attachments import KIND_LABELS
    from services.common.vocabulary import code_of
    from services.common.wire_json import lenient_number

    return lenient_number(common_pb2.AttachmentItemKind.DESCRIPTOR, code_of(KIND_LABELS, text) or "")
