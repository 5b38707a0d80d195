"""One cell as a clerk types it ↔ one JSON value of a ledger record, by the column's type."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from services.common.vocabulary import Terms
from services.ledger_book.columns import (
    BOOL,
    CHOICE,
    DATE,
    DEADLINE,
    ID,
    INSTANT,
    NUMBER,
    PERIOD,
    UNIT,
    UNITS,
    YEAR,
    Choices,
    Column,
)

TRUE = frozenset({"是", "true", "yes", "y", "1", "√", "✓", "成立"})
FALSE = frozenset({"否", "false", "no", "n", "0", "×", "不成立"})
_SEPARATORS = re.compile(r"[、，,；;\s]+")
_CHINESE_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?\s*(.*)$")
_SLASHED = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(.*)$")
_CLOCK = re.compile(r"^(\d{1,2})[:：时](\d{1,2})?(?:[:：分](\d{1,2})秒?)?分?$")
_MONTH = re.compile(r"^(\d{4})\s*(?:年|[-/.])\s*(\d{1,2})\s*月?$")
END_OF_DAY = time(23, 59, 59)


class CellError(ValueError):
    """A cell that breaks its column's rule; the message is the rule, in Chinese."""


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _day(text: str) -> tuple[date, str] | None:
    """A date written 2025-06-01, 2025/6/1, 2025.6.1 or 2025年6月1日, and the rest of the text."""
    match = _CHINESE_DATE.match(text) or _SLASHED.match(text)
    if match:
        year, month, day, rest = match.groups()
        try:
            return date(int(year), int(month), int(day)), rest.strip()
        except ValueError:
            return None
    try:
        return date.fromisoformat(text[:10]), text[10:].strip()
    except ValueError:
        return None


def _moment(value: Any, column: Column, tz: tzinfo) -> str:
    """An instant with the scheme's offset; an offset written in the cell is kept."""
    midnight = isinstance(value, datetime) and value.time() == time() and value.tzinfo is None
    if isinstance(value, datetime) and midnight and column.kind == DEADLINE:
        # Excel keeps a typed date as that day's midnight: a deadline given as a day is its end.
        moment = datetime.combine(value.date(), END_OF_DAY)
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, END_OF_DAY if column.kind == DEADLINE else time())
    else:
        text = _text(value)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            found = _day(text)
            if found is None:
                raise CellError(f"“{text}”不是时间，请写成 2025-05-12 18:00") from None
            day, rest = found
            if not rest:
                clock = END_OF_DAY if column.kind == DEADLINE else time()
            else:
                match = _CLOCK.match(rest.replace(" ", ""))
                if match is None:
                    raise CellError(f"“{text}”不是时间，请写成 2025-05-12 18:00") from None
                hour, minute, second = (int(g or 0) for g in match.groups())
                try:
                    clock = time(hour, minute, second)
                except ValueError:
                    raise CellError(f"“{text}”的时刻不存在") from None
            moment = datetime.combine(day, clock)
        else:
            if len(text) == 10 and column.kind == DEADLINE:
                moment = datetime.combine(moment.date(), END_OF_DAY)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    moment = moment.replace(microsecond=0)
    if not 1990 <= moment.year <= 2100:
        raise CellError(f"“{moment.isoformat()}”不在 1990–2100 年之间")
    return moment.isoformat()


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    found = _day(text)
    if found is None or found[1]:
        raise CellError(f"“{text}”不是日期，请写成 2025-06-01")
    return found[0].isoformat()


def _period(value: Any) -> str:
    if isinstance(value, datetime | date):
        return _date(value)
    text = _text(value)
    if re.fullmatch(r"\d{4}", text):
        return text
    match = _MONTH.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise CellError(f"“{text}”的月份不存在")
        return f"{year:04d}-{month:02d}"
    found = _day(text)
    if found is None or found[1]:
        raise CellError(f"“{text}”不是期间，请写年（2025）、月（2025-03）或日期（2025-03-31）")
    return found[0].isoformat()


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise CellError("须是数字")
    if isinstance(value, int | float):
        return value
    text = _text(value).replace(",", "").replace("，", "")
    percent = text.endswith("%")
    try:
        number = float(text.removesuffix("%"))
    except ValueError:
        raise CellError(f"“{text}”不是数字") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise CellError(f"“{text}”不是有限的数字")
    if percent:
        return number / 100
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CellError(f"“{_text(value)}”须填“是”或“否”")


def _choice(value: Any, column: Column, choices: Choices) -> str:
    text = _text(value)
    terms = choices.terms(column.choices)
    if text in terms:
        return text
    codes = [code for code, label in terms.items() if label == text]
    if len(codes) == 1:
        return codes[0]
    if choices.is_open(column.choices) or not terms:
        # An open list (a county's own unit categories) or one the scheme leaves to the services.
        return text
    known = "、".join(f"{label}（{code}）" if label != code else code for code, label in terms.items())
    raise CellError(f"“{text}”不是可选的{column.header}；可选：{known}")


def _unit(value: Any, units: Terms) -> str:
    """A unit by its code, or by its name when exactly one unit carries it."""
    text = _text(value)
    if text in units:
        return text
    codes = [code for code, name in units.items() if name == text]
    if len(codes) > 1:
        raise CellError(f"“{text}”是多个单位的名称（{'、'.join(codes)}），请填单位代码")
    return codes[0] if codes else text


def _id(value: Any) -> str:
    text = _text(value)
    if len(text) > 64 or any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise CellError("须是编号：不超过64个字符，不含换行等控制字符")
    return text


def read_cell(value: Any, column: Column, *, choices: Choices, units: Terms, tz: tzinfo) -> Any:
    """The JSON value of a filled cell (the caller skips empty ones); CellError when it breaks the rule."""
    kind = column.kind
    if kind in (INSTANT, DEADLINE):
        return _moment(value, column, tz)
    if kind == DATE:
        return _date(value)
    if kind == PERIOD:
        return _period(value)
    if kind == NUMBER:
        return _number(value)
    if kind == YEAR:
        number = _number(value)
        if not float(number).is_integer():
            raise CellError(f"“{_text(value)}”不是年度")
        return int(number)
    if kind == BOOL:
        return _bool(value)
    if kind == CHOICE:
        return _choice(value, column, choices)
    if kind == UNIT:
        return _unit(value, units)
    if kind == UNITS:
        return [_unit(part, units) for part in _SEPARATORS.split(_text(value)) if part]
    if kind == ID:
        return _id(value)
    if isinstance(value, datetime | date | time | timedelta):
        raise CellError("须是文字，请把单元格设为文本格式后重填")
    # Text is kept as typed (a JSON line keeps it so too); only numbers are written out as text.
    return value if isinstance(value, str) else _text(value)


def write_cell(value: Any, column: Column, *, choices: Choices, tz: tzinfo) -> Any:
    """The cell a record's value is written as: local times, Chinese labels, 是/否, joined lists."""
    kind = column.kind
    if value is None:
        return None
    if kind in (INSTANT, DEADLINE):
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        local = moment.astimezone(tz).replace(tzinfo=None) if moment.tzinfo is not None else moment
        if kind == DEADLINE and local.time() == time():
            # A deadline at midnight is written out as text: a midnight cell reads as the day's end.
            return local.isoformat(sep=" ")
        return local
    if kind == DATE:
        return date.fromisoformat(value) if isinstance(value, str) else value
    if kind == BOOL:
        return "是" if value else "否"
    if kind == CHOICE:
        terms = choices.terms(column.choices)
        label = terms.get(str(value))
        # A label two codes share would not read back as this code: the code is written instead.
        if label is None or sum(1 for other in terms.values() if other == label) > 1:
            return str(value)
        return label
    if kind == UNITS:
        return "、".join(str(v) for v in value)
    return value
