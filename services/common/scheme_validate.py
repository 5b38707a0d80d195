"""Reading typed values out of parsed TOML, recording every violation: the scheme's validator."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from services.common.errors import FieldViolation

_T = TypeVar("_T")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The default meaning "required": a reader records a violation when the key is absent.
MISSING: Any = object()


def is_number(value: object) -> bool:
    """A finite int or float, not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def join(path: str, key: str) -> str:
    """The dotted key path of key under path, quoting a key that is not bare."""
    name = key if _BARE_KEY.match(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{name}" if path else name


def type_name(value: object) -> str:
    """What a TOML value is, for messages."""
    if isinstance(value, bool):
        return "布尔值"
    if isinstance(value, int | float):
        return "数字"
    if isinstance(value, str):
        return "字符串"
    if isinstance(value, list):
        return "数组"
    if isinstance(value, dict):
        return "表"
    if isinstance(value, datetime):
        return "日期时间"
    if isinstance(value, date):
        return "日期"
    return "时间"


class Validator:
    """Reads typed values out of parsed TOML tables, recording a violation for each broken rule.

    Every reader returns a usable placeholder after recording a violation, so that one pass
    finds every violation of the file.
    """

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def bad(self, path: str, rule: str) -> None:
        self.violations.append(FieldViolation(path, rule))

    def keys(self, table: Mapping[str, Any], path: str, allowed: frozenset[str] | set[str]) -> None:
        for key in table:
            if key not in allowed:
                self.bad(join(path, key), "未知的键")

    def table(
        self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> dict[str, Any] | None:
        """The sub-table under key, or None when it is absent (or not a table)."""
        full = join(path, key)
        if key not in parent:
            if required:
                self.bad(full, "缺少必需的节")
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.bad(full, f"须为表，不能是{type_name(value)}")
            return None
        return value

    def _get(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        default: _T,
        check: Callable[[Any, str], _T | None],
        placeholder: _T,
    ) -> _T:
        full = join(path, key)
        if key not in table:
            if default is MISSING:
                self.bad(full, "缺少必需的键")
                return placeholder
            return default
        got = check(table[key], full)
        return placeholder if got is None else got

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: float = MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        def check(value: Any, full: str) -> float | None:
            return self.check_number(value, full, minimum=minimum, maximum=maximum, positive=positive)

        return self._get(table, key, path, default, check, 0.0)

    def check_number(
        self,
        value: Any,
        full: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(full, f"须为数字，不能是{type_name(value)}")
            return None
        x = float(value)
        if not math.isfinite(x):
            self.bad(full, "须为有限数")
            return None
        if positive and x <= 0:
            self.bad(full, f"须大于 0，现为 {value}")
            return None
        if minimum is not None and maximum is not None and not minimum <= x <= maximum:
            self.bad(full, f"须在 {minimum:g} 到 {maximum:g} 之间，现为 {value}")
            return None
        if minimum is not None and x < minimum:
            self.bad(full, "不得为负数" if minimum == 0 else f"须至少为 {minimum:g}，现为 {value}")
            return None
        return x

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: int = MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        def check(value: Any, full: str) -> int | None:
            if isinstance(value, bool) or not isinstance(value, int):
                self.bad(full, f"须为整数，不能是{type_name(value)}")
                return None
            if minimum is not None and value < minimum:
                self.bad(full, f"须至少为 {minimum}，现为 {value}")
                return None
            if maximum is not None and value > maximum:
                self.bad(full, f"最多为 {maximum}，现为 {value}")
                return None
            return value

        return self._get(table, key, path, default, check, minimum if minimum is not None else 0)

    def string(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: str = MISSING,
        choices: tuple[str, ...] | None = None,
    ) -> str:
        def check(value: Any, full: str) -> str | None:
            if not isinstance(value, str):
                self.bad(full, f"须为字符串，不能是{type_name(value)}")
                return None
            if choices is not None and value not in choices:
                self.bad(full, f'未知的值 "{value}"：须为以下之一：{"、".join(choices)}')
                return None
            if not value.strip():
                self.bad(full, "不得为空")
                return None
            return value

        return self._get(table, key, path, default, check, "")

    def boolean(self, table: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
        def check(value: Any, full: str) -> bool | None:
            if not isinstance(value, bool):
                self.bad(full, f"须为 true 或 false，不能是{type_name(value)}")
                return None
            return value

        return self._get(table, key, path, default, check, default)

    def string_list(self, table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        def check(value: Any, full: str) -> tuple[str, ...] | None:
            if not isinstance(value, list):
                self.bad(full, f"须为字符串数组，不能是{type_name(value)}")
                return None
            out: list[str] = []
            for j, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    self.bad(f"{full}[{j}]", "须为非空字符串")
                else:
                    out.append(item)
            return tuple(out)

        return self._get(table, key, path, (), check, ())

    def date_list(self, table: Mapping[str, Any], key: str, path: str) -> tuple[date, ...]:
        def check(value: Any, full: str) -> tuple[date, ...] | None:
            if not isinstance(value, list):
                self.bad(full, f"须为 ISO 日期的数组，不能是{type_name(value)}")
                return None
            out: list[date] = []
            for j, item in enumerate(value):
                d = self.check_date(item, f"{full}[{j}]")
                if d is not None:
                    out.append(d)
            return tuple(out)

        return self._get(table, key, path, (), check, ())

    def check_date(self, item: Any, full: str) -> date | None:
        if isinstance(item, date) and not isinstance(item, datetime):
            return item
        if isinstance(item, str):
            try:
                # fromisoformat also takes 20250606; the format says YYYY-MM-DD.
                if not _ISO_DATE.match(item):
                    raise ValueError(item)
                return date.fromisoformat(item)
            except ValueError:
                self.bad(full, f'"{item}" 不是有效的 ISO 日期（YYYY-MM-DD）')
                return None
        self.bad(full, f"须为 ISO 日期，不能是{type_name(item)}")
        return None

    def number_map(self, table: Mapping[str, Any] | None, key: str, path: str) -> dict[str, float]:
        """A table of names to non-negative numbers (weights, deductions, points)."""
        if table is None:
            return {}
        sub = self.table(table, key, path)
        if sub is None:
            return {}
        out: dict[str, float] = {}
        for name, value in sub.items():
            x = self.check_number(value, join(join(path, key), name), minimum=0)
            if x is not None:
                out[name] = x
        return out


# Upper bounds in seconds of the limit units that a `latest` is compared by: a clock limit is exact, a
# day-counted one ends on the last second of a day, so only limits of one family compare reliably.
_CLOCK_SECONDS = {"minutes": 60, "hours": 3600}


def check_latest(v: Validator, path: str, *, limit: Any, latest: Any) -> None:
    """A `latest` cut-off (SCORING.md §2) must end after the time limit it follows."""
    if latest.unit in _CLOCK_SECONDS and limit.unit in _CLOCK_SECONDS:
        later = latest.amount * _CLOCK_SECONDS[latest.unit] > limit.amount * _CLOCK_SECONDS[limit.unit]
    elif latest.unit == limit.unit:
        later = latest.amount > limit.amount
    else:
        # A clock cut-off after a limit counted in days ends before that limit does.
        later = latest.unit not in _CLOCK_SECONDS
    if not later:
        v.bad(
            path,
            f"最迟时限（{latest.amount} {latest.unit}）须晚于时限 limit（{limit.amount} {limit.unit}）",
        )
