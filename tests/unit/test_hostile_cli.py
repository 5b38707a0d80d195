"""The command line prints control characters from the data as escapes, never raw to the terminal."""

from __future__ import annotations

import json
import re
from typing import Any

from services.cli import render

# C0 (but the line feed render writes itself), DEL, C1 and the bidi controls.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "清屏\x1b[2J\x1b]0;标题\x07\x9b31m\u202egnp.exe\r\n假行"


def task(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "T1",
        "title": HOSTILE,
        "task_type": "leader_directive",
        "task_type_name": "领导批示",
        "lead_unit": "fgj",
        "co_units": ["czj\x1b[0m"],
        "state": "assigned",
        "state_label": "已交办",
        "color": "red",
        "due_at": "2025-05-12T18:00:00+08:00",
        "outcome": "",
        "holder": "lead_unit",
        "history": [
            {"at": "2025-05-01", "kind": "progress", "by": "fgj\x07", "note": HOSTILE, "rejected": False}
        ],
    }
    return {**base, **fields}


def test_tables_and_details_escape_controls() -> None:
    printed = [
        render.tasks([task()]),
        render.task_detail(task()),
        render.table(["a"], [[HOSTILE]]),
        render.records(
            [{"kind": "error_report", "id": "E1\x1b", "unit": "fgj", "fields": {"description": HOSTILE}}]
        ),
        render.runs([{"id": "2025-001", "year": 2025, "state": "draft", "scheme": HOSTILE}]),
    ]
    for text in printed:
        assert not RAW.search(text), repr(text)
    assert "\\x1b[2J" in printed[1] and "\\u202e" in printed[1]


def test_json_output_escapes_c0_controls() -> None:
    """--json prints what json.dumps writes: every C0 control as a \\u escape, and the data intact."""
    document = json.dumps(task(), ensure_ascii=False)
    assert not re.search("[\x00-\x1f]", document)
    assert json.loads(document)["title"] == HOSTILE


def test_json_output_escapes_what_a_terminal_would_act_on_and_reads_back_the_same() -> None:
    from services.cli.client import json_text

    document = {"title": "发改局\u202e报告\x9b31m\u2028下一行\x7f", "note": "正常的中文"}
    text = json_text(document)
    assert not any(ch in text for ch in "\u202e\x9b\u2028\x7f")
    assert "正常的中文" in text  # Chinese stays readable, not \u-escaped
    assert json.loads(text) == document
