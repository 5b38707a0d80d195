"""The console's page pieces: instants as people write them, tables whose cells carry their column's name."""

from __future__ import annotations

from services.web.layout import instant
from services.web.templating import ENV


def test_instants_are_shown_in_the_countys_time_as_people_write_them() -> None:
    assert instant("2026-12-06T11:05:00Z") == "2026年12月6日 19:05"
    assert instant("2026-12-06T19:05:00+08:00") == "2026年12月6日 19:05"
    assert instant("2026-01-31T23:30:00+00:00") == "2026年2月1日 07:30"
    assert instant("2026-12-06") == "2026年12月6日"
    assert instant("") == "" and instant(None) == ""
    assert instant("not a time") == "not a time"


def test_each_cell_is_labelled_by_its_column_for_the_phone_layout() -> None:
    page = ENV.from_string(
        '{% import "macros.html" as m %}'
        '{% call m.table(["单位", "总分"], numeric=[1]) %}<tr data-unit="czj">'
        '{{ m.td(name, "单位") }}{{ m.td(93, "总分", num=true) }}</tr>{% endcall %}'
        '{{ m.table(["单位"], empty=true) }}'
    ).render(name="财政局<script>")
    assert '<tr data-unit="czj"><td data-label="单位">财政局&lt;script&gt;</td>' in page
    assert '<td data-label="总分" class="num">93</td>' in page
    assert 'class="empty"' in page
