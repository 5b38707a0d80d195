"""The checks of text and JSON from outside (services.common.text, services.common.jsonlines)."""

from __future__ import annotations

import pytest

from services.common import jsonlines
from services.common.errors import InvalidArgument
from services.common.ranges import check_year, page_size, seq_token
from services.common.text import check_id, check_text, visible


def refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(InvalidArgument) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.violations[0].field + ": " + caught.value.violations[0].description


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\ud800"])
def test_control_characters_are_refused_in_every_text(char: str) -> None:
    assert refused(check_text, "title", f"a{char}b", max_len=200).startswith("title: 不得含控制字符")
    assert refused(check_text, "note", f"a{char}b", max_len=200, allow_newlines=True).startswith("note:")


def test_newlines_and_tabs_only_where_text_is_multi_line() -> None:
    assert check_text("note", "一\n二\t三", max_len=20, allow_newlines=True) == "一\n二\t三"
    assert "U+000A" in refused(check_text, "title", "一\n二", max_len=20)
    assert "U+000D" in refused(check_text, "note", "一\r\n二", max_len=20, allow_newlines=True)


def test_lengths_are_refused_never_cut() -> None:
    assert check_text("title", "题" * 200, max_len=200) == "题" * 200
    assert "不得超过 200 个字符（现有 201 个）" in refused(check_text, "title", "题" * 201, max_len=200)
    assert "不得超过 64 个字符" in refused(check_id, "id", "x" * 65)


@pytest.mark.parametrize("char", ["\u202a", "\u202e", "\u2066", "\u2069"])
def test_bidi_controls_are_refused_in_ids(char: str) -> None:
    assert "双向文字控制符" in refused(check_id, "id", f"E{char}1")
    assert check_text("title", f"E{char}1", max_len=20)  # free text may quote another script's marks


def test_visible_escapes_what_a_terminal_would_obey() -> None:
    assert visible("红\x1b[31m色\x07") == "红\\x1b[31m色\\x07"
    assert visible("a\nb\tc\u202ed") == "a\nb\\x09c\\u202ed"
    assert visible("a\nb", keep_newlines=False) == "a\\x0ab"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"a":1,"a":2}', "键 'a' 重复出现"),
        ('{"a":1,"b":2,"b":3,"a":4}', "键 'b' 重复出现"),
        ('{"a":{"b":1,"b":2}}', "键 'b' 重复出现"),
        ('\ufeff{"a":1}', "BOM"),
        ('{"a":NaN}', "NaN"),
        ('{"a":-Infinity}', "-Infinity"),
        ('{"a":' + "9" * 31 + "}", "超过 30 位的整数"),
        ('{"a":' + "9" * 5000 + "}", "超过 30 位的整数"),
        ('{"a":1e400}', "大到无法表示"),
        ('{"a":' + "[" * 200000 + "]" * 200000 + "}", "嵌套超过 4 层"),
        ('{"a":{"b":{"c":{"d":{}}}}}', "嵌套超过 4 层"),
        ('{"a":', "不是有效的 JSON"),
    ],
)
def test_json_lines_are_strict(line: str, words: str) -> None:
    message = refused(jsonlines.loads_line, line, line=7)
    assert message.startswith("line 7: json: ") and words in message, message


def test_json_lines_accept_what_json_allows_and_split_at_line_feeds_only() -> None:
    assert jsonlines.loads_line('{"a":[1,2.5,"x"],"b":{"c":[true]}}', line=1) == {
        "a": [1, 2.5, "x"],
        "b": {"c": [True]},
    }
    text = '{"t":"一\u2028二\u2029三"}\r\n\n  \n{"t":"四"}'
    assert [(n, jsonlines.loads_line(raw, line=n)["t"]) for n, raw in jsonlines.lines(text)] == [
        (1, "一\u2028二\u2029三"),
        (4, "四"),
    ]


def test_years_page_sizes_and_tokens() -> None:
    assert check_year(0) == 0 and check_year(2025) == 2025
    for year in (-1, 1989, 2101, 99999):
        assert refused(check_year, year).startswith("year:")
    assert "year:" in refused(check_year, 0, optional=False)
    assert page_size(0, default=200, maximum=5000) == 200
    assert page_size(99999, default=200, maximum=5000) == 5000
    assert refused(page_size, -1, default=200, maximum=5000).startswith("page_size:")
    assert seq_token("") == 0 and seq_token("42") == 42
    for token in ("9" * 25, "²", "\u0661", "-1", "x"):
        assert refused(seq_token, token).startswith("page_token:")
