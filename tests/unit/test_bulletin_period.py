"""The bulletin's period: a month, a quarter or a year, each with its 公文 name; anything else refused."""

from __future__ import annotations

from datetime import date

import pytest

from services.bulletin.period import Period, PeriodInvalid, parse_period
from services.common.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11", Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026年11月")),
        ("2026-02", Period("2026-02", date(2026, 2, 1), date(2026, 2, 28), "2026年2月")),
        ("2028-02", Period("2028-02", date(2028, 2, 1), date(2028, 2, 29), "2028年2月")),
        ("2026-12", Period("2026-12", date(2026, 12, 1), date(2026, 12, 31), "2026年12月")),
        ("2026-Q1", Period("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026年第一季度")),
        ("2026-Q2", Period("2026-Q2", date(2026, 4, 1), date(2026, 6, 30), "2026年第二季度")),
        ("2026-Q3", Period("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "2026年第三季度")),
        ("2026-Q4", Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第四季度")),
        ("2026-q4", Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第四季度")),
        ("2026", Period("2026", date(2026, 1, 1), date(2026, 12, 31), "2026年度")),
    ],
)
def test_each_form_names_its_days_and_its_label(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


def test_both_ends_are_inside_the_period() -> None:
    quarter = parse_period("2026-Q4")
    assert quarter.contains(date(2026, 10, 1))
    assert quarter.contains(date(2026, 12, 31))
    assert not quarter.contains(date(2026, 9, 30))
    assert not quarter.contains(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "没有 13 月"),
        ("2026-00", "没有 00 月"),
        ("2026-Q5", "没有第 Q5 季度"),
        ("2026-Q0", "没有第 Q0 季度"),
        ("26-1", "YYYY-MM"),
        ("2026-1", "YYYY-MM"),
        ("2026-11-05", "YYYY-Qn"),
        ("2026Q4", "YYYY"),
        ("1989", "1990–2100"),
        ("", "YYYY-MM"),
        ("   ", "YYYY-MM"),
    ],
)
def test_anything_else_is_refused_naming_the_field_and_the_rule(text: str, says: str) -> None:
    with pytest.raises(PeriodInvalid) as caught:
        parse_period(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidArgument)  # the interceptor maps it to INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["period"]
    assert says in str(error)
    assert str(error).startswith("period: ")


def test_a_value_that_is_not_text_is_refused() -> None:
    with pytest.raises(PeriodInvalid, match="period"):
        parse_period(None)
