"""Unit tests of the working-day calendar, due instants and colours."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import calendar as calendar_module
from services.common.calendar import (
    COLOUR_LABELS,
    WorkCalendar,
    colour,
    colours_many,
    due_at,
    progress_deadlines,
)
from services.common.limits import Limit, LimitUnit

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, second, tzinfo=SH)


def eod(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=SH)


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    # The once-per-process memory would make the warning tests depend on test order.
    with calendar_module._warned_lock:
        calendar_module._warned_years.clear()


# §1: which days work


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 5, 1), False),  # Labour Day
        (date(2025, 5, 5), False),
        (date(2025, 5, 6), True),
        (date(2025, 4, 27), True),  # Sunday 调休
        (date(2025, 9, 28), True),  # Sunday 调休
        (date(2025, 10, 8), False),  # National Day, a Wednesday
        (date(2025, 10, 11), True),  # Saturday 调休
        (date(2025, 10, 12), False),
        (date(2026, 1, 1), False),
        (date(2026, 1, 4), True),  # Sunday 调休
        (date(2004, 1, 1), False),
        (date(2025, 6, 9), True),
    ],
)
def test_statutory_calendar_decides_in_covered_years(day: date, working: bool) -> None:
    cal = WorkCalendar()
    assert cal.is_working_day(day) is working
    assert cal.uncovered_years == frozenset()


def test_extra_workdays_win_over_extra_holidays_and_statute() -> None:
    both = date(2025, 5, 1)
    cal = WorkCalendar(extra_holidays=[both, date(2025, 6, 6)], extra_workdays=[both, date(2025, 6, 7)])
    assert cal.is_working_day(both) is True
    assert cal.is_working_day(date(2025, 6, 6)) is False  # a Friday made a local holiday
    assert cal.is_working_day(date(2025, 6, 7)) is True  # a Saturday made a local workday


def test_is_working_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        WorkCalendar().is_working_day(at(2025, 5, 6, 9))


def test_uncovered_year_falls_back_to_weekdays_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="kaohe.calendar"):
        assert cal.is_working_day(date(2027, 1, 1)) is True  # a Friday; New Year unknown without data
        assert cal.is_working_day(date(2027, 1, 2)) is False
        assert cal.is_working_day(date(2027, 3, 8)) is True
        WorkCalendar().is_working_day(date(2027, 1, 4))
    warnings = [r for r in caplog.records if r.name == "kaohe.calendar"]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING
    assert cal.uncovered_years == frozenset({2027})


def test_each_uncovered_year_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="kaohe.calendar"):
        cal.is_working_day(date(2003, 12, 31))
        cal.is_working_day(date(2028, 6, 1))
        cal.is_working_day(date(2003, 1, 1))
    messages = [r.getMessage() for r in caplog.records if r.name == "kaohe.calendar"]
    assert len(messages) == 2
    assert "2003" in messages[0]
    assert "2028" in messages[1]
    assert cal.uncovered_years == frozenset({2003, 2028})


def test_uncovered_years_are_recorded_per_instance_even_after_the_warning() -> None:
    WorkCalendar().is_working_day(date(2027, 5, 5))
    second = WorkCalendar()
    assert second.uncovered_years == frozenset()
    second.is_working_day(date(2027, 5, 6))
    assert second.uncovered_years == frozenset({2027})


def test_extras_in_uncovered_years_apply_without_marking_the_year() -> None:
    cal = WorkCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 1, 2)])
    assert cal.is_working_day(date(2027, 1, 1)) is False
    assert cal.is_working_day(date(2027, 1, 2)) is True
    assert cal.uncovered_years == frozenset()
    assert cal.is_working_day(date(2027, 1, 4)) is True
    assert cal.uncovered_years == frozenset({2027})


# working_days_between


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2025, 8, 8), date(2025, 8, 20), 8),
        (date(2025, 4, 30), date(2025, 5, 6), 1),
        (date(2025, 10, 13), date(2025, 10, 15), 2),  # T2: L = 2
        (date(2025, 6, 10), date(2025, 6, 16), 4),  # T3 with 06-06 irrelevant: L = 4
        (date(2025, 5, 6), date(2025, 5, 6), 0),
        (date(2025, 5, 7), date(2025, 5, 6), 0),
        (date(2025, 12, 31), date(2026, 1, 5), 2),  # across the year end: 01-01..03 off, Sunday 01-04 调休
    ],
)
def test_working_days_between(a: date, b: date, expected: int) -> None:
    assert WorkCalendar().working_days_between(a, b) == expected


def test_working_days_between_honours_extras() -> None:
    cal = WorkCalendar(extra_holidays=[date(2025, 6, 6)])
    assert cal.working_days_between(date(2025, 6, 4), date(2025, 6, 10)) == 3


def test_add_working_days() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(date(2025, 4, 28), 7) == date(2025, 5, 12)
    assert cal.add_working_days(date(2025, 4, 30), 1) == date(2025, 5, 6)
    assert cal.add_working_days(date(2025, 6, 6), 1) == date(2025, 6, 9)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2025, 6, 6), 0)


def test_add_working_days_across_into_an_uncovered_year() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 4)
    assert cal.uncovered_years == frozenset({2027})


# working_days_between_many


def _days(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]")


def test_working_days_between_many_known_values() -> None:
    cal = WorkCalendar()
    got = cal.working_days_between_many(
        _days("2025-08-08", "2025-04-30", "2025-05-06", "2025-10-13", "NaT", "2025-01-01"),
        _days("2025-08-20", "2025-05-06", "2025-05-06", "2025-10-15", "2025-01-01", "NaT"),
    )
    assert got.dtype == np.int64
    assert got.tolist() == [8, 1, 0, 2, 0, 0]
    assert cal.uncovered_years == frozenset()


def test_working_days_between_many_empty() -> None:
    got = WorkCalendar().working_days_between_many(_days(), _days())
    assert got.shape == (0,)
    assert got.dtype == np.int64


def test_working_days_between_many_records_only_years_it_used() -> None:
    cal = WorkCalendar()
    # b <= a touches no day, and (2026-12-01, 2026-12-31] stays in a covered year.
    cal.working_days_between_many(_days("2027-03-01", "2026-12-01"), _days("2027-03-01", "2026-12-31"))
    assert cal.uncovered_years == frozenset()
    cal.working_days_between_many(_days("2026-12-31"), _days("2027-01-01"))
    assert cal.uncovered_years == frozenset({2027})


def test_working_days_between_many_does_not_mark_a_year_decided_by_extras() -> None:
    cal = WorkCalendar(extra_holidays=[date(2027, 1, 1)])
    assert cal.working_days_between_many(_days("2026-12-31"), _days("2027-01-01")).tolist() == [0]
    assert cal.uncovered_years == frozenset()


def test_working_days_between_many_accepts_datetime64_of_other_units() -> None:
    cal = WorkCalendar()
    a = np.array(["2025-08-08T10:00"], dtype="datetime64[m]")
    b = np.array(["2025-08-20T23:59"], dtype="datetime64[m]")
    assert cal.working_days_between_many(a, b).tolist() == [8]


_DATES = st.dates(min_value=date(2002, 6, 1), max_value=date(2028, 6, 30))
_EXTRAS = st.lists(st.dates(min_value=date(2002, 6, 1), max_value=date(2028, 6, 30)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(_DATES, _DATES), min_size=1, max_size=30),
    holidays=_EXTRAS,
    workdays=_EXTRAS,
)
def test_working_days_between_many_matches_the_scalar_rule(
    pairs: list[tuple[date, date]], holidays: list[date], workdays: list[date]
) -> None:
    scalar = WorkCalendar(extra_holidays=holidays, extra_workdays=workdays)
    vector = WorkCalendar(extra_holidays=holidays, extra_workdays=workdays)
    a = np.array([p[0] for p in pairs], dtype="datetime64[D]")
    b = np.array([p[1] for p in pairs], dtype="datetime64[D]")
    got = vector.working_days_between_many(a, b)
    assert got.tolist() == [scalar.working_days_between(x, y) for x, y in pairs]
    assert vector.uncovered_years == scalar.uncovered_years


@settings(max_examples=20, deadline=None)
@given(pairs=st.lists(st.tuples(_DATES, _DATES), min_size=1, max_size=10))
def test_working_days_between_many_reuses_and_grows_its_table(pairs: list[tuple[date, date]]) -> None:
    cal = WorkCalendar()
    cal.working_days_between_many(_days("2025-01-01"), _days("2025-02-01"))
    scalar = WorkCalendar()
    for x, y in pairs:
        got = cal.working_days_between_many(
            np.array([x], dtype="datetime64[D]"), np.array([y], "datetime64[D]")
        )
        assert got.tolist() == [scalar.working_days_between(x, y)]


def test_working_days_between_many_agrees_on_a_large_random_sample() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    base = np.datetime64("2024-01-01", "D")
    a = base + rng.integers(0, 900, n)
    b = a + rng.integers(-5, 200, n)
    cal = WorkCalendar()
    cal.working_days_between_many(a[:10], b[:10])  # builds the table
    got = cal.working_days_between_many(a, b)
    assert got.shape == (n,)
    sample = rng.integers(0, n, 200)
    for i in sample:
        x, y = a[i].astype(date), b[i].astype(date)
        assert got[i] == cal.working_days_between(x, y)


# §2: due instants


@pytest.mark.parametrize(
    ("assigned", "limit", "holidays", "expected"),
    [
        # T1: Labour Day pushes 7 working days from Mon 04-28 to 05-12.
        (at(2025, 4, 28, 10), Limit(7, "working_days"), (), eod(2025, 5, 12)),
        # T2: 09-28 (Sunday) and 10-11 (Saturday) work, National Day closes 10-01..08.
        (at(2025, 9, 26, 9), Limit(7, "working_days"), (), eod(2025, 10, 13)),
        # T3: the scheme's local holiday on Friday 06-06.
        (at(2025, 6, 4, 9), Limit(3, "working_days"), (date(2025, 6, 6),), eod(2025, 6, 10)),
        # T6: New Year, and Sunday 2026-01-04 works.
        (at(2025, 12, 29, 9), Limit(5, "working_days"), (), eod(2026, 1, 6)),
        (at(2025, 3, 3, 9), Limit(1, "hours"), (), at(2025, 3, 3, 10)),
        (at(2025, 7, 10, 14), Limit(15, "minutes"), (), at(2025, 7, 10, 14, 15)),
        (at(2025, 12, 31, 23, 30), Limit(45, "minutes"), (), at(2026, 1, 1, 0, 15)),
        (at(2025, 12, 31, 22), Limit(3, "hours"), (), at(2026, 1, 1, 1)),
        (at(2025, 9, 30, 9), Limit(10, "calendar_days"), (), eod(2025, 10, 10)),
        (at(2025, 12, 25, 9), Limit(10, "calendar_days"), (), eod(2026, 1, 4)),
        (at(2024, 2, 28, 9), Limit(1, "calendar_days"), (), eod(2024, 2, 29)),
        (at(2025, 1, 31, 9), Limit(3, "months"), (), eod(2025, 4, 30)),
        (at(2025, 1, 31, 9), Limit(1, "months"), (), eod(2025, 2, 28)),
        (at(2024, 1, 31, 9), Limit(1, "months"), (), eod(2024, 2, 29)),
        (at(2025, 11, 15, 9), Limit(2, "months"), (), eod(2026, 1, 15)),
        (at(2025, 12, 31, 9), Limit(12, "months"), (), eod(2026, 12, 31)),
        (at(2025, 5, 6, 9), Limit(1, "working_days"), (), eod(2025, 5, 7)),
        (at(2025, 4, 30, 9), Limit(1, "working_days"), (), eod(2025, 5, 6)),
    ],
)
def test_due_at(assigned: datetime, limit: Limit, holidays: tuple[date, ...], expected: datetime) -> None:
    got = due_at(assigned_at=assigned, limit=limit, calendar=WorkCalendar(extra_holidays=holidays), tz=SH)
    assert got == expected
    assert got.tzinfo is SH
    assert got.utcoffset() == timedelta(hours=8)


def test_due_at_takes_the_local_date_of_an_instant_given_in_another_offset() -> None:
    # 2025-04-29T17:00Z is already 04-30 01:00 in Shanghai: 1 working day after 04-30 is 05-06.
    assigned = datetime(2025, 4, 29, 17, tzinfo=UTC)
    got = due_at(assigned_at=assigned, limit=Limit(1, "working_days"), calendar=WorkCalendar(), tz=SH)
    assert got == eod(2025, 5, 6)
    hours = due_at(assigned_at=assigned, limit=Limit(2, "hours"), calendar=WorkCalendar(), tz=SH)
    assert hours == at(2025, 4, 30, 3)
    assert hours.tzinfo is SH


def test_due_at_in_an_uncovered_year_uses_weekdays() -> None:
    cal = WorkCalendar()
    got = due_at(assigned_at=at(2027, 1, 1, 9), limit=Limit(3, "working_days"), calendar=cal, tz=SH)
    assert got == eod(2027, 1, 6)
    assert cal.uncovered_years == frozenset({2027})


def test_due_at_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="assigned_at"):
        due_at(assigned_at=datetime(2025, 5, 6, 9), limit=Limit(1, "hours"), calendar=WorkCalendar(), tz=SH)


@pytest.mark.parametrize("unit", ["minutes", "hours", "working_days", "calendar_days", "months"])
@pytest.mark.parametrize("amount", [0, -1])
def test_due_at_refuses_a_non_positive_amount(amount: int, unit: LimitUnit) -> None:
    with pytest.raises(ValueError, match="positive"):
        due_at(assigned_at=at(2025, 5, 6, 9), limit=Limit(amount, unit), calendar=WorkCalendar(), tz=SH)


def test_due_at_refuses_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="weeks"):
        due_at(assigned_at=at(2025, 5, 6, 9), limit=Limit(1, "weeks"), calendar=WorkCalendar(), tz=SH)  # type: ignore[arg-type]


# §3: colours


def test_colour_boundaries() -> None:
    assigned = at(2025, 5, 6, 0)
    due = at(2025, 5, 16, 0)  # 10 days

    def at_80(t: datetime, threshold: float = 0.8) -> str:
        return colour(at=t, assigned_at=assigned, due_at=due, yellow_threshold=threshold)

    assert at_80(assigned) == "blue"
    assert at_80(at(2025, 5, 13, 23, 59, 59)) == "blue"
    assert at_80(at(2025, 5, 14, 0)) == "yellow"  # exactly 80 % of the time used
    assert at_80(due) == "yellow"  # due_at itself is still on time
    assert at_80(due + timedelta(microseconds=1)) == "red"
    assert at_80(assigned, threshold=0.0) == "yellow"
    assert at_80(at(2025, 5, 15, 23, 59, 59), threshold=1.0) == "blue"
    assert at_80(due, threshold=1.0) == "yellow"


def test_colour_labels() -> None:
    assert COLOUR_LABELS == {"blue": "蓝", "yellow": "黄", "red": "红"}


def test_colours_many() -> None:
    assigned = np.array([0, 0, 0, 0, 100], dtype=np.int64)
    due = np.array([1000, 1000, 1000, 499, 500], dtype=np.int64)
    got = colours_many(at=500, assigned_at=assigned, due_at=due, yellow_threshold=0.5)
    assert got.tolist() == ["yellow", "yellow", "yellow", "red", "yellow"]
    got = colours_many(at=499, assigned_at=assigned, due_at=due, yellow_threshold=0.5)
    assert got.tolist() == ["blue", "blue", "blue", "yellow", "yellow"]
    assert colours_many(at=0, assigned_at=assigned[:0], due_at=due[:0], yellow_threshold=0.5).shape == (0,)


@settings(max_examples=200, deadline=None)
@given(
    assigned=st.integers(1_600_000_000, 1_800_000_000),
    span=st.integers(0, 10_000_000),
    offset=st.integers(-1_000_000, 12_000_000),
    threshold=st.sampled_from([0.0, 0.5, 0.7, 0.8, 1.0]),
)
def test_colours_many_matches_colour(assigned: int, span: int, offset: int, threshold: float) -> None:
    due = assigned + span
    now = assigned + offset
    expected = colour(
        at=datetime.fromtimestamp(now, SH),
        assigned_at=datetime.fromtimestamp(assigned, SH),
        due_at=datetime.fromtimestamp(due, SH),
        yellow_threshold=threshold,
    )
    got = colours_many(
        at=now, assigned_at=np.array([assigned]), due_at=np.array([due]), yellow_threshold=threshold
    )
    assert got.tolist() == [expected]


# progress deadlines


def test_progress_deadlines_every_working_days() -> None:
    cal = WorkCalendar()
    assigned = at(2025, 9, 26, 9)
    due = due_at(assigned_at=assigned, limit=Limit(20, "working_days"), calendar=cal, tz=SH)
    got = progress_deadlines(
        assigned_at=assigned, due_at=due, every=Limit(5, "working_days"), calendar=cal, tz=SH
    )
    # 5 working days from 09-26: 09-28, 09-29, 09-30, 10-09, 10-10.
    # Then from 10-10: Saturday 10-11 works, so 10-11, 13, 14, 15, 16.
    assert due == eod(2025, 10, 30)
    # The fourth step lands on the due instant itself, which is not a progress deadline.
    assert got == [eod(2025, 10, 10), eod(2025, 10, 16), eod(2025, 10, 23)]


def test_progress_deadlines_every_month_from_previous_deadline() -> None:
    cal = WorkCalendar()
    got = progress_deadlines(
        assigned_at=at(2025, 1, 10, 9), due_at=eod(2025, 6, 30), every=Limit(1, "months"), calendar=cal, tz=SH
    )
    assert got == [eod(2025, m, 10) for m in (2, 3, 4, 5, 6)]


def test_progress_deadlines_hours_and_none_when_too_short() -> None:
    cal = WorkCalendar()
    got = progress_deadlines(
        assigned_at=at(2025, 5, 6, 9), due_at=at(2025, 5, 6, 12), every=Limit(1, "hours"), calendar=cal, tz=SH
    )
    assert got == [at(2025, 5, 6, 10), at(2025, 5, 6, 11)]
    assert (
        progress_deadlines(
            assigned_at=at(2025, 5, 6, 9),
            due_at=at(2025, 5, 6, 9, 30),
            every=Limit(1, "hours"),
            calendar=cal,
            tz=SH,
        )
        == []
    )


def test_progress_deadlines_refuse_naive_instants() -> None:
    with pytest.raises(ValueError):
        progress_deadlines(
            assigned_at=datetime(2025, 5, 6, 9),
            due_at=at(2025, 5, 6, 12),
            every=Limit(1, "hours"),
            calendar=WorkCalendar(),
            tz=SH,
        )
    with pytest.raises(ValueError):
        progress_deadlines(
            assigned_at=at(2025, 5, 6, 9),
            due_at=datetime(2025, 5, 6, 12),
            every=Limit(1, "hours"),
            calendar=WorkCalendar(),
            tz=SH,
        )
