"""The console's page pieces: instants as people write them, tables whose cells carry their column's name."""

from __future__ import annotations

from services.web.layout import instant, row, table


def test_instants_are_shown_in_the_countys_time_as_people_write_them() -> None:
    assert instant("2026-12-06T11:05:00Z") == "2026年12月6日 19:05"
    assert instant("2026-12-06T19:05:00+08:00") == "2026年12月6日 19:05"
    assert instant("2026-01-31T23:30:00+00:00") == "2026年2月1日 07:30"
    assert instant("2026-12-06") == "2026年12月6日"
    assert instant("") == "" and instant(None) == ""
    assert instant("not a time") == "not a time"


def test_each_cell_is_labelled_by_its_column_for_the_phone_layout() -> None:
    html = table(["单位", "总分"], [row(["财政局", "93"], attrs=' data-unit="czj"')])
    assert '<tr data-unit="czj"><td data-label="单位">财政局</td><td data-label="总分">93</td></tr>' in html
    assert 'class="empty"' in table(["单位"], [])
