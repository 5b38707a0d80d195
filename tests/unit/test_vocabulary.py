"""The one vocabulary: codes and their Chinese labels, read both ways."""

from __future__ import annotations

import pytest

from services.common import vocabulary as v
from services.tasks.domain import KIND_LABELS, STATE_LABELS, Kind, State

TABLES = {
    name: getattr(v, name) for name in v.__all__ if name.isupper() and isinstance(getattr(v, name), dict)
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_label_names_one_code_in_its_table(name: str) -> None:
    terms = TABLES[name]
    assert len(set(terms.values())) == len(terms)
    for code, label in terms.items():
        assert v.code_of(terms, code) == code
        assert v.code_of(terms, label) == code
        assert v.label_of(terms, code) == label


def test_unknown_text_is_no_code_and_its_own_label() -> None:
    assert v.code_of(v.COLOURS, "紫") is None
    assert v.label_of(v.COLOURS, "purple") == "purple"


def test_record_kinds_follow_the_contract() -> None:
    assert v.RECORD_KINDS == (
        "error_report",
        "metric_reading",
        "incentive",
        "tolerance",
        "accountability",
        "appeal",
        "target",
    )
    assert set(v.LEDGER_LINE_TYPES) == {"unit", "task", "task_event", "person", *v.RECORD_KINDS}


def test_the_tasks_domain_speaks_the_vocabulary() -> None:
    assert {s.value for s in State} == set(v.TASK_STATES)
    assert {k.value for k in Kind} == set(v.TASK_EVENT_KINDS)
    assert all(STATE_LABELS[s] == v.TASK_STATES[s] for s in State)
    assert all(KIND_LABELS[k] == v.TASK_EVENT_KINDS[k] for k in Kind)


def test_the_brief_labels() -> None:
    assert v.COLOURS == {"blue": "蓝", "yellow": "黄", "red": "红"}
    assert v.SEVERITIES == {"general": "一般", "serious": "较重", "grave": "严重"}
    assert list(v.GRADES.values()) == ["优秀", "良好", "一般", "较差"]
    assert v.UNIT_CATEGORIES == {"department": "部门", "township": "乡镇", "village": "村（社区）"}
    assert v.ROLES["office"] == "考核办" and v.ROLES["supervisor"] == "督查室"
