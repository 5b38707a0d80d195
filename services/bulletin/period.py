"""The period a supervision bulletin covers: a month (YYYY-MM), a quarter (YYYY-Qn) or a year (YYYY)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from services.common.errors import FieldViolation, InvalidArgument

__all__ = ["MAX_ISSUE", "Period", "PeriodInvalid", "parse_period"]

# A 期号 is a small number printed in the masthead; a typo of 20260 is refused rather than printed.
MAX_ISSUE = 9999

_RULE = "must be a period written YYYY-MM (month 01–12), YYYY-Qn (quarter 1–4) or YYYY, e.g. 2026-11"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq](\d)$")
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER_NAMES = ("一", "二", "三", "四")


class PeriodInvalid(InvalidArgument, ValueError):
    """A bulletin period that is none of the three forms; names the field `period` and the rule."""

    def __init__(self, value: object, rule: str = _RULE):
        self.value = value
        super().__init__(FieldViolation("period", f"{value!r}: {rule}"))


@dataclass(frozen=True)
class Period:
    """A span of whole local days, both ends included, with its name in a 公文 (2026年第四季度)."""

    code: str
    start: date
    end: date
    label: str

    def contains(self, day: date) -> bool:
        """Whether the local date falls within the period, both ends included."""
        return self.start <= day <= self.end


def _year(text: str, value: str) -> int:
    year = int(text)
    if not 1990 <= year <= 2100:
        raise PeriodInvalid(value, "年度须在 1990–2100 之间")
    return year


def parse_period(value: object) -> Period:
    """The Period of `2026-11`, `2026-Q4` or `2026`; raises PeriodInvalid for anything else."""
    if not isinstance(value, str) or not value.strip():
        raise PeriodInvalid(value)
    text = value.strip()
    if match := _MONTH.match(text):
        year, month = _year(match[1], text), int(match[2])
        if not 1 <= month <= 12:
            raise PeriodInvalid(text, f"没有 {month:02d} 月；月份为 01–12")
        last = calendar.monthrange(year, month)[1]
        return Period(
            code=f"{year}-{month:02d}",
            start=date(year, month, 1),
            end=date(year, month, last),
            label=f"{year}年{month}月",
        )
    if match := _QUARTER.match(text):
        year, quarter = _year(match[1], text), int(match[2])
        if not 1 <= quarter <= 4:
            raise PeriodInvalid(text, f"没有第 Q{quarter} 季度；季度为 Q1–Q4")
        first, last = 3 * quarter - 2, 3 * quarter
        return Period(
            code=f"{year}-Q{quarter}",
            start=date(year, first, 1),
            end=date(year, last, calendar.monthrange(year, last)[1]),
            label=f"{year}年第{_QUARTER_NAMES[quarter - 1]}季度",
        )
    if match := _YEAR.match(text):
        year = _year(match[1], text)
        return Period(code=str(year), start=date(year, 1, 1), end=date(year, 12, 31), label=f"{year}年度")
    raise PeriodInvalid(text)
