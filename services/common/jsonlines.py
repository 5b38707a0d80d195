"""JSON from outside, one object a line: strict where Python's json module is lenient.

Python accepts duplicate keys (the last wins, silently), NaN and Infinity (not JSON), integers of
thousands of digits, and nesting until the interpreter's stack runs out (RecursionError). A ledger
line is a flat record, so each of these is refused here, naming the line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from services.common.errors import FieldViolation, InvalidArgument

# A ledger record is an object holding scalars and lists of scalars: depth 2. Four leaves room.
MAX_DEPTH = 4
# Digits of an integer: far above any count or amount of the formats, far below what slows int().
MAX_DIGITS = 30


class _Refused(Exception):
    """A hook of the decoder refused a value; the message says why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Some key repeats: name the first repetition, in the order written.
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Refused(f"键 {key!r} 重复出现")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise _Refused(f"{name} 不是 JSON 数字")


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"含有超过 {MAX_DIGITS} 位的整数")
    return int(digits)


def _float(text: str) -> float:
    if len(text) > 4 * MAX_DIGITS:
        raise _Refused(f"含有超过 {4 * MAX_DIGITS} 个字符的数字")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"含有数字 {text[:20]}，大到无法表示")
    return value


# One decoder for every call (json.loads with hooks would build a new one, and its scanner, each time).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int, parse_float=_float
)
# Values that cannot hide a problem check_value looks for: no nesting, no float.
_FLAT = frozenset({str, int, bool, type(None)})


# The common line, decoded by msgspec several times faster: a flat object of strings, booleans, nulls, short
# integers and lists of strings, no key written twice. Anything else goes to the strict decoder above,
# which alone words a refusal.
_FAST = msgspec.json.Decoder(dict)
_FAST_VALUES = frozenset({bool, type(None)})
_INT_LIMIT = 10**MAX_DIGITS
_KEY_END = re.compile(r'"\s*:')


def common_object(text: str) -> dict[str, Any] | None:
    """text's object when it is a common line (see _FAST), else None."""
    try:
        value = _FAST.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    strings = len(value)  # the keys
    for child in value.values():
        kind = type(child)
        if kind is str:
            strings += 1
        elif kind is list:
            if not all(type(item) is str for item in child):
                return None
            strings += len(child)
        elif not (kind in _FAST_VALUES or (kind is int and -_INT_LIMIT < child < _INT_LIMIT)):
            return None
    # Each string written (a key too) has two quotes, any other quote is escaped: with one quote more than
    # the strings kept, a key may have been written twice (msgspec keeps the last) — or a string holds one,
    # and then each key's end (its closing quote, then the colon) is counted instead.
    if text.count('"') != 2 * strings and len(_KEY_END.findall(text)) != len(value):
        return None
    return value


def loads(text: str, *, field: str) -> Any:
    """The JSON value of text, refused (InvalidArgument naming field) when it breaks a rule above."""
    common = common_object(text)
    if common is not None:
        return common
    try:
        if text.startswith("\ufeff"):
            # As json.loads refuses it.
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            [FieldViolation(field, f"不是有效的 JSON（第 {exc.colno} 列：{exc.msg}）")]
        ) from None
    except _Refused as exc:
        raise InvalidArgument([FieldViolation(field, str(exc))]) from None
    except RecursionError:
        raise InvalidArgument([FieldViolation(field, f"嵌套超过 {MAX_DEPTH} 层")]) from None
    if type(value) is dict and all(type(child) in _FLAT for child in value.values()):
        # A flat record (a ledger line, nearly always): check_value would find nothing.
        return value
    problem = check_value(value)
    if problem:
        raise InvalidArgument([FieldViolation(field, problem)])
    return value


def loads_line(text: str, *, line: int) -> Any:
    """One line of an import, as loads, the violation named `line N: json`."""
    return loads(text, field=f"line {line}: json")


def check_value(value: Any, *, depth: int = 1) -> str:
    """What is wrong with a decoded value (too deep, a non-finite number), or "" when nothing."""
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        return f"嵌套超过 {MAX_DEPTH} 层"
    if isinstance(value, float) and not math.isfinite(value):
        return "含有非有限数（NaN 或 Infinity）"
    children: Any = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        problem = check_value(child, depth=depth + 1)
        if problem:
            return problem
    return ""


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(number, line) of the non-blank lines, split at line feeds only.

    str.splitlines would also split at U+2028 and U+2029, which JSON allows raw inside a string.
    """
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if raw.strip():
            yield number, raw
