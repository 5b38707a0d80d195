"""The holiday notice parser and the calendar it makes, day by day against the statutory calendar."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import numpy as np
import pytest

from services.common.calendar import WorkCalendar
from services.common.errors import InvalidArgument
from services.common.holiday_notice import HolidayNotice, parse_notice, written_date
from services.common.scheme import load_scheme

NOTICES = Path(__file__).resolve().parents[1] / "data" / "notices"
YEARS = range(2008, 2026)


def _notice(year: int) -> HolidayNotice:
    return parse_notice((NOTICES / f"{year}.txt").read_text(encoding="utf-8"))


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=k) for k in range((date(year + 1, 1, 1) - first).days)]


def test_the_texts_cover_at_least_ten_years() -> None:
    assert len([y for y in YEARS if (NOTICES / f"{y}.txt").exists()]) >= 10


@pytest.mark.parametrize("year", YEARS)
def test_each_notice_decides_its_year_as_the_statutory_calendar(year: int) -> None:
    # The year's own notice and the next one (whose 元旦 may start in this December) decide every day.
    notices = {y: _notice(y) for y in (year, year + 1) if (NOTICES / f"{y}.txt").exists()}
    assert notices[year].year == year
    calendar = WorkCalendar(notices=notices)
    wrong = [
        (d.isoformat(), calendar.is_working_day(d))
        for d in _days(year)
        if calendar.is_working_day(d) != chinese_calendar.is_workday(d)
    ]
    assert wrong == []
    assert calendar.source(year) == "notice"
    assert calendar.uncovered_years == frozenset()


def test_the_vectorised_count_agrees_with_the_day_by_day_one() -> None:
    calendar = WorkCalendar(notices={y: _notice(y) for y in YEARS})
    starts = np.array(["2012-01-01", "2019-12-20", "2020-01-10", "2024-09-25"], dtype="datetime64[D]")
    ends = np.array(["2012-12-31", "2020-02-10", "2020-05-10", "2025-10-15"], dtype="datetime64[D]")
    expected = [
        sum(chinese_calendar.is_workday(d) for d in _days_between(a, b))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
    assert calendar.working_days_between_many(starts, ends).tolist() == expected


def _days_between(a: date, b: date) -> list[date]:
    return [a + timedelta(days=k) for k in range(1, (b - a).days + 1)]


def test_a_range_across_years_and_a_workday_of_the_year_before() -> None:
    notice = _notice(2019)
    assert {date(2018, 12, 30), date(2018, 12, 31), date(2019, 1, 1)} <= notice.holidays
    assert date(2018, 12, 29) in notice.workdays
    assert date(2011, 12, 31) in _notice(2012).workdays


def test_the_2008_forms_a_dash_and_the_december_of_the_year_before() -> None:
    new_year = _notice(2008).items[0]
    assert new_year.holidays == (date(2007, 12, 30), date(2007, 12, 31), date(2008, 1, 1))
    assert new_year.workdays == (date(2007, 12, 29),)
    across = parse_notice("一、元旦：2010年12月31日至1月2日放假，共3天。\n", year=2011)
    assert across.holidays == {date(2010, 12, 31), date(2011, 1, 1), date(2011, 1, 2)}


def test_bu_xiu_is_a_holiday_and_explanations_add_nothing() -> None:
    assert {date(2014, 4, 5), date(2014, 4, 7)} <= _notice(2014).holidays
    # 2013's 元旦 item also says 公休日调至1月2日、3日: those are its 放假 days, not 上班 ones.
    assert _notice(2013).items[0].workdays == (date(2013, 1, 5), date(2013, 1, 6))


def test_lunar_notes_and_weekdays_in_brackets() -> None:
    spring = _notice(2025).items[1]
    assert spring.festivals == ("春节",)
    assert spring.holidays[0] == date(2025, 1, 28) and spring.holidays[-1] == date(2025, 2, 4)
    assert spring.workdays == (date(2025, 1, 26), date(2025, 2, 8))


def test_the_year_comes_from_the_title_or_is_given() -> None:
    body = "一、元旦：1月1日（周五）至3日（周日）放假，共3天。\n"
    assert parse_notice(body, year=2027).holidays == {date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)}
    with pytest.raises(InvalidArgument, match="--year"):
        parse_notice(body)
    with pytest.raises(InvalidArgument, match="2026 与通知标题中的 2027"):
        parse_notice("国务院办公厅关于2027年部分节假日安排的通知\n" + body, year=2026)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("二、春节：2月5日至11日放假调休，共7天。2月14日（周日）值班。", "没有说放假、补休还是上班"),
        ("二、春节：2月30日放假。", "不是一个日期"),
        ("二、春节：2月6日（周四）放假。", "不是周四"),
        ("二、春天：2月6日放假。", "不是通知安排的节日"),
        ("二、春节 2月6日放假。", "冒号"),
        ("二、春节：共7天。", "没有读到放假日期"),
        ("二、春节：2月5日至3月20日放假。", "不是一段假期"),
    ],
)
def test_an_unreadable_item_is_refused_naming_its_line(line: str, why: str) -> None:
    text = "国务院办公厅关于2027年部分节假日安排的通知\n\n一、元旦：1月1日放假。\n" + line + "\n"
    with pytest.raises(InvalidArgument) as refused:
        parse_notice(text)
    (violation,) = refused.value.violations
    assert violation.field == "第4行"
    assert line in violation.description and why in violation.description


def test_a_numbered_paragraph_without_dates_is_no_item() -> None:
    text = "一、元旦：1月1日放假。\n二、节假日期间，各地区、各部门要妥善安排好值班工作。\n"
    assert len(parse_notice(text, year=2027).items) == 1


def test_a_day_both_off_and_on_is_refused() -> None:
    text = "一、元旦：1月1日至3日放假。1月2日（周六）上班。\n"
    with pytest.raises(InvalidArgument, match="既写作放假又写作上班"):
        parse_notice(text, year=2027)


def test_the_canonical_form_round_trips_and_ignores_wording() -> None:
    notice = _notice(2016)
    assert HolidayNotice.from_canonical(notice.canonical()) == notice
    halfwidth = (NOTICES / "2016.txt").read_text(encoding="utf-8")
    fullwidth = halfwidth.replace(":", "：").replace(",", "，").replace("(", "（").replace(")", "）")
    assert parse_notice(fullwidth).sha256 == notice.sha256


def test_dates_are_written_as_people_write_them() -> None:
    assert written_date(date(2027, 1, 4)) == "2027年1月4日（周一）"


def test_a_year_without_notice_or_statutory_data_falls_back_to_weekdays() -> None:
    calendar = WorkCalendar()
    assert calendar.source(2027) == "weekdays"
    assert WorkCalendar(extra_holidays=[date(2027, 1, 1)]).source(2027) == "scheme"
    assert calendar.source(2026) == "statutory"
    noticed = WorkCalendar(
        notices={2027: parse_notice("一、元旦：1月1日（周五）至3日（周日）放假。\n", year=2027)}
    )
    assert not noticed.is_working_day(date(2027, 1, 1))
    assert noticed.is_working_day(date(2027, 1, 4))
    holidays, workdays = noticed.year_days(2027)
    assert holidays == [date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)] and workdays == []
    assert noticed.uncovered_years == frozenset()


def test_a_scheme_under_notices_keeps_its_digest_and_counts_by_them() -> None:
    scheme = load_scheme((Path(__file__).resolve().parents[1] / "data" / "scheme.toml").read_text("utf-8"))
    noticed = scheme.with_notices({2027: parse_notice("一、元旦：1月1日至3日放假。\n", year=2027)})
    assert noticed.sha256 == scheme.sha256
    assert scheme.calendar().is_working_day(date(2027, 1, 1))
    assert not noticed.calendar().is_working_day(date(2027, 1, 1))
