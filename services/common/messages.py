"""Requests refused whole when a string in them holds a NUL, before any of it reaches a query.

SQLite stores a NUL in text and PostgreSQL refuses it with an error of its own: checked here, at the
edge of each service, a NUL is the same INVALID_ARGUMENT on both, naming the field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import InvalidArgument

C = TypeVar("C", bound=type)


def nul_field(message: Message, prefix: str = "") -> str:
    """The path of the first string field of message (nested ones too) that holds a NUL, or ""."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                items: list[tuple[str, Any]] = [(f"{path}.{k}", v) for k, v in value.items()]
            elif field.is_repeated:
                items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
            else:
                items = [(path, value)]
            for where, item in items:
                if "\x00" in where:
                    return path
                found = nul_field(item, where + ".") if isinstance(item, Message) else _nul(where, item)
                if found:
                    return found
        elif field.type == FieldDescriptor.TYPE_STRING:
            strings = value if field.is_repeated else [value]
            if any("\x00" in s for s in strings):
                return path
    return ""


def _nul(where: str, value: Any) -> str:
    return where if isinstance(value, str) and "\x00" in value else ""


def refuse_nul(cls: C) -> C:
    """The servicer class with each unary RPC refusing a request that holds a NUL anywhere."""
    for name in [n for n in vars(cls) if n[:1].isupper() and callable(vars(cls)[n])]:
        setattr(cls, name, _checked(vars(cls)[name]))
    return cls


def _checked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any, context: Any) -> Any:
        if isinstance(request, Message):
            where = nul_field(request)
            if where:
                raise InvalidArgument(where, "不得含控制字符 U+0000")
        return method(self, request, context)

    return call
