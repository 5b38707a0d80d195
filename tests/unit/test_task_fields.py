"""One validator of a task's fields: a ledger line names the line, CreateTask the request's field alone."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.common.scheme import Scheme
from services.tasks import ledger


def _task(**changes: Any) -> dict[str, Any]:
    return {
        "id": "T1",
        "title": "事项",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-03-01T09:00:00+08:00",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"title": ""}, "title"),
        ({"task_type": "nonsense"}, "task_type"),
        ({"priority": "whenever"}, "priority"),
        ({"co_units": ["fgj"]}, "co_units"),
        ({"due_at": "2025-02-01T09:00:00+08:00"}, "due_at"),
        ({"id": "a b"}, "id"),
        ({"parent": "T1"}, "parent"),
    ],
)
def test_the_same_rule_refuses_a_line_and_a_request_naming_the_field_each_way(
    example_scheme: Scheme, changes: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidArgument) as on_line:
        ledger.parse_task({"type": "task", **_task(**changes)}, 7, example_scheme)
    with pytest.raises(InvalidArgument) as in_request:
        ledger.task_fields(_task(**changes), example_scheme, line=0, at="")
    [line_violation] = on_line.value.violations
    [request_violation] = in_request.value.violations
    assert line_violation.field == f"line 7: {name}"
    assert request_violation.field == name
    assert request_violation.description == line_violation.description


def test_a_good_task_reads_the_same_from_a_line_and_from_a_request(example_scheme: Scheme) -> None:
    from_line = ledger.parse_task({"type": "task", **_task()}, 0, example_scheme)
    assert ledger.task_fields(_task(), example_scheme, line=0, at="") == from_line
    assert from_line.priority == "normal"
