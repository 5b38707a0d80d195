"""Ids from outside, limited to one safe alphabet where they enter, so no id can become a path or a query.

An id (a task's, a record's, a run's, an appeal's, an account's …) is ASCII letters, digits and . _ -,
starting with a letter or digit: no "/", "?", "%", "#" or ".." can ride in one into a URL, a file name
or a log line. A unit may also be named by its Chinese name where a person types it; a name is letters
and digits of any script (and · ( ) -), so it is just as inert.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import InvalidArgument

ID_MAX = 64
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ID_RULE = "编号只能由英文字母、数字和 . _ - 组成，以字母或数字开头，最多 64 个字符"
_NAME = re.compile(r"^[^\W_][\w·（）()-]{0,63}$")
UNIT_RULE = "单位须写单位代码（英文字母、数字和 . _ - ，以字母或数字开头，最多 64 个字符）或单位的中文名称"
# Readings and targets are named by their parts: "unit/metric/period".
COMPOSITE_RULE = "记录编号由至多 3 段组成，以 / 分隔，每段" + ID_RULE.removeprefix("编号")

# Request fields that carry ids, by name (a field ending in _id or _ids is one too, request_id aside:
# an idempotency key is bounded text of its own, see idempotency.py).
ID_FIELDS = frozenset(
    {"id", "ids", "task", "run", "supersedes", "username", "target", "appeal", "application", "person"}
)
UNIT_FIELDS = frozenset({"unit", "units", "lead_unit", "co_units"})
NOT_IDS = frozenset({"request_id"})
COMPOSITE_FIELDS = frozenset({("kaohe.scoring.v1.VoidRecordRequest", "id")})


def is_safe_id(value: str) -> bool:
    """Whether value is an id of the safe alphabet."""
    return bool(SAFE_ID.match(value)) and "\n" not in value


def check_safe_id(field: str, value: str) -> str:
    """value when it is an id of the safe alphabet, else InvalidArgument naming the field and the rule."""
    if not is_safe_id(value):
        raise InvalidArgument(field, ID_RULE)
    return value


def check_unit_ref(field: str, value: str) -> str:
    """A unit's code of the safe alphabet, or its name (letters and digits of any script)."""
    if not (is_safe_id(value) or (_NAME.match(value) and "\n" not in value)):
        raise InvalidArgument(field, UNIT_RULE)
    return value


def check_composite_id(field: str, value: str) -> str:
    """A record's id: one safe id, or up to three joined by "/" (a reading's unit/metric/period)."""
    parts = value.split("/")
    if len(parts) > 3 or not all(is_safe_id(p) for p in parts):
        raise InvalidArgument(field, COMPOSITE_RULE)
    return value


def _kind(name: str) -> str:
    if name in NOT_IDS:
        return ""
    if name in UNIT_FIELDS:
        return "unit"
    if name in ID_FIELDS or name.endswith(("_id", "_ids")):
        return "id"
    return ""


def check_request_ids(message: Message, prefix: str = "") -> None:
    """Every id-bearing string field of a request (nested messages too) checked; the first bad one refused.

    google.protobuf messages (a Struct of ledger fields) are left to the parser of their contents.
    """
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            inner = field.message_type
            if inner is None or inner.GetOptions().map_entry:
                continue
            if inner.full_name.startswith("google.protobuf."):
                continue
            items: list[Any] = list(value) if field.is_repeated else [value]
            for index, item in enumerate(items):
                where = f"{path}[{index}]." if field.is_repeated else f"{path}."
                check_request_ids(item, where)
            continue
        if field.type != FieldDescriptor.TYPE_STRING:
            continue
        kind = _kind(field.name)
        if not kind:
            continue
        composite = (message.DESCRIPTOR.full_name, field.name) in COMPOSITE_FIELDS
        values = list(value) if field.is_repeated else [value]
        for index, text in enumerate(values):
            where = f"{path}[{index}]" if field.is_repeated else path
            if not text:
                continue
            if kind == "unit":
                check_unit_ref(where, text)
            elif composite:
                check_composite_id(where, text)
            else:
                check_safe_id(where, text)
