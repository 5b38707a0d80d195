"""Closed sets on the wire and in JSON: a proto enum value and its code (the spec's English word).

Every kaohe enum names its values `<ENUM>_<CODE>` (TASK_STATE_CREATED, TASK_COLOR_RED, RUN_STATE_FINAL), with
`<ENUM>_UNSPECIFIED = 0` meaning "none". The code the ledger, the result JSON and the CLI's `--json` write is
the value's name without the prefix, in lower case ("created", "red", "on_time"); none is "".
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor

from services.common.errors import InvalidArgument


def _prefix(enum: EnumDescriptor) -> str:
    unspecified = enum.values_by_number[0].name
    return unspecified.removesuffix("UNSPECIFIED")


def enum_code(enum: EnumDescriptor, number: int) -> str:
    """The code of an enum value ("" for the zero value, or a number this build does not know)."""
    if number == 0 or number not in enum.values_by_number:
        return ""
    return enum.values_by_number[number].name.removeprefix(_prefix(enum)).lower()


def enum_number(enum: EnumDescriptor, code: str, *, field: str = "") -> int:
    """The enum value of a code ("" gives the zero value); an unknown code is refused naming the field."""
    if not code:
        return 0
    value = enum.values_by_name.get(_prefix(enum) + code.upper())
    if value is None or value.number == 0:
        allowed = "、".join(enum_code(enum, v.number) for v in enum.values if v.number)
        raise InvalidArgument(field or enum.name, f"“{code}”不是可用的值（可用：{allowed}）")
    return value.number


def enum_codes(enum: EnumDescriptor) -> list[str]:
    """Every code of the enum, in declaration order, without the zero value."""
    return [enum_code(enum, v.number) for v in enum.values if v.number]
