"""Issue 10, lists 6 and 7: each hostile input that once answered INTERNAL (or leaked) is now refused.

Every case runs over SQLite and PostgreSQL: a NUL is refused by Kaohe's own check on both, naming the
field, and nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from tests.conftest import Stack
from tests.integration.test_records import struct, violations
from tests.integration.test_runs import create_run
from tests.tasks_text import text as read_text

UNIT = {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"}
OTHER = {"type": "unit", "id": "czj", "name": "财政局", "category": "department"}
TASK = {
    "type": "task",
    "id": "T1",
    "title": "报送材料",
    "task_type": "leader_directive",
    "lead_unit": "fgj",
    "assigned_at": "2025-04-28T10:00:00+08:00",
}
REPORT = {
    "id": "E9",
    "unit": "fgj",
    "date": "2025-06-01",
    "category": "drafting",
    "severity": "general",
    "description": "材料口径不一致",
}


def lines(*records: dict[str, Any] | str) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records).encode()


def invalid(call: Callable[[], Any]) -> list[str]:
    """The fields an INVALID_ARGUMENT refusal names (the call must be refused so)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return [name for name, _ in violations(caught.value)]


def counts(stack: Stack) -> tuple[int, int]:
    _, tasks, scoring = stack.stubs()
    md = stack.metadata()
    listed = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=5000), metadata=md, timeout=30)
    records = scoring.ListRecords(scoring_pb2.ListRecordsRequest(page_size=5000), metadata=md, timeout=30)
    return len(listed.tasks), len(records.records)


@pytest.fixture
def units(stack: Stack) -> Stack:
    stack.import_ledger(lines(UNIT, OTHER, TASK))
    return stack


@pytest.fixture(scope="module")
def units_refusing(module_stack: Stack) -> Stack:
    """units, once for the module's tests that are only refused."""
    module_stack.import_ledger(lines(UNIT, OTHER, TASK))
    return module_stack


def test_a_nul_is_refused_naming_the_field_and_nothing_is_stored(units: Stack) -> None:
    _, tasks, scoring = units.stubs()
    md = units.metadata()
    before = counts(units)
    assert invalid(lambda: units.import_ledger(lines({**TASK, "id": "T2", "title": "报送\u0000材料"}))) == [
        "line 1: title"
    ]
    assert invalid(
        lambda: units.import_ledger(
            lines({**TASK, "id": "T2"}, {"type": "error_report", **REPORT, "description": "a\u0000b"})
        )
    ) == ["line 2: description"]
    create = tasks_pb2.CreateTaskRequest(
        id="T3", title="a\x00b", task_type="leader_directive", lead_unit="fgj"
    )
    assert invalid(lambda: tasks.CreateTask(create, metadata=md, timeout=30).task) == ["title"]
    action = tasks_pb2.AssignTaskRequest(id="T1", note="进展\x00")
    assert invalid(lambda: tasks.AssignTask(action, metadata=md, timeout=30).task) == ["note"]
    record = scoring_pb2.CreateRecordRequest(
        kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, fields=struct({**REPORT, "description": "x\x00"})
    )
    assert invalid(lambda record=record: scoring.CreateRecord(record, metadata=md, timeout=30).record)
    assert invalid(
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id="T\x001"), metadata=md, timeout=30).task
    ) == ["id"]
    assert counts(units) == before
    assert [
        e.kind
        for e in read_text(
            tasks.GetTask(tasks_pb2.GetTaskRequest(id="T1"), metadata=md, timeout=30)
        ).task.history
    ] == [
        "create",
        "assign",
    ]


def test_text_is_bounded(units: Stack) -> None:
    _, tasks, _ = units.stubs()
    md = units.metadata()
    action = tasks_pb2.ReportProgressRequest(id="T1", note="长" * 2001)
    assert invalid(lambda: tasks.ReportProgress(action, metadata=md, timeout=30).task) == ["note"]
    assert invalid(lambda: units.import_ledger(lines({**TASK, "id": "T2", "title": "题" * 201}))) == [
        "line 1: title"
    ]


def test_ledger_json_is_strict(units: Stack) -> None:
    before = counts(units)
    cases = {
        '{"type":"task","id":"T2","id":"T3"}': "重复出现",
        '{"type":"unit","id":"x","name":"y","category":NaN}': "NaN",
        '{"type":"unit","id":"x","name":"y","category":Infinity}': "Infinity",
        '{"type":"unit","id":"x","n":' + "9" * 400 + "}": "位的整数",
        '{"type":"unit","id":"x","n":1e999}': "大到无法表示",
        '{"type":"unit","id":"x","n":' + "[" * 100000 + "]" * 100000 + "}": "嵌套超过",
        '{"type":"unit","id":"x","n":[[[[[1]]]]]}': "嵌套超过",
    }
    for line, words in cases.items():
        with pytest.raises(grpc.RpcError) as caught:
            units.import_ledger(line.encode())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (line[:40], caught.value.details())
        assert violations(caught.value)[0][0] == "line 1: json"
        assert words in violations(caught.value)[0][1], (words, violations(caught.value))
    assert counts(units) == before


def test_u2028_inside_a_string_is_text_and_bidi_controls_in_ids_are_refused(units: Stack) -> None:
    units.import_ledger(lines({**TASK, "id": "T2", "title": "第一行\u2028第二行\u2029完"}))
    _, tasks, _ = units.stubs()
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T2"), metadata=units.metadata(), timeout=30).task
    assert task.title == "第一行\u2028第二行\u2029完"
    assert invalid(lambda: units.import_ledger(lines({**TASK, "id": "T\u202e3"}))) == ["line 1: id"]


def test_non_finite_numbers_in_a_record_struct_are_refused(units: Stack) -> None:
    _, _, scoring = units.stubs()
    reading = {"unit": "fgj", "metric": "fixed_asset_investment_growth", "period": "2025-06"}
    for value in (float("nan"), float("inf"), float("-inf")):
        record = scoring_pb2.CreateRecordRequest(
            kind=scoring_pb2.RECORD_KIND_METRIC_READING, fields=struct({**reading, "value": value})
        )
        assert invalid(
            lambda record=record: scoring.CreateRecord(record, metadata=units.metadata(), timeout=30).record
        )
        nested = scoring_pb2.CreateRecordRequest(
            kind=scoring_pb2.RECORD_KIND_APPEAL, fields=struct({"id": "A", "date": [value]})
        )
        assert invalid(
            lambda nested=nested: scoring.CreateRecord(nested, metadata=units.metadata(), timeout=30).record
        )


def test_a_deeply_nested_scheme_is_refused(units: Stack) -> None:
    _, _, scoring = units.stubs()
    for text in ("x = " + "[" * 5000 + "]" * 5000, "x = " + "{a = " * 2000 + "1" + "}" * 2000):
        request = scoring_pb2.CreateRunRequest(year=2025, scheme_toml=text)
        assert "scheme_toml" in invalid(
            lambda request=request: scoring.CreateRun(request, metadata=units.metadata(), timeout=30).run
        )


@pytest.mark.parametrize("year", [99999, -1, 1989, 2101])
def test_years_out_of_range_are_refused(units_refusing: Stack, year: int) -> None:
    gateway, tasks, scoring = units_refusing.stubs()
    md = units_refusing.metadata()
    calls = [
        lambda: tasks.SummarizeTasks(tasks_pb2.SummarizeTasksRequest(year=year), metadata=md, timeout=30),
        lambda: tasks.ListTasks(tasks_pb2.ListTasksRequest(year=year), metadata=md, timeout=30),
        lambda: gateway.GetOverview(gateway_pb2.GetOverviewRequest(year=year), metadata=md, timeout=30),
        lambda: gateway.GetDashboard(
            gateway_pb2.GetDashboardRequest(unit="fgj", year=year), metadata=md, timeout=30
        ),
        lambda: scoring.PreviewAssessment(
            scoring_pb2.PreviewAssessmentRequest(year=year), metadata=md, timeout=30
        ),
        lambda: scoring.CreateRun(scoring_pb2.CreateRunRequest(year=year), metadata=md, timeout=30).run,
        lambda: scoring.ListRecords(scoring_pb2.ListRecordsRequest(year=year), metadata=md, timeout=30),
        lambda: scoring.ListRuns(scoring_pb2.ListRunsRequest(year=year), metadata=md, timeout=30),
        lambda: scoring.GetRun(scoring_pb2.GetRunRequest(year=year), metadata=md, timeout=30).run,
    ]
    for call in calls:
        assert invalid(call) == ["year"]


@pytest.mark.parametrize("token", ["9" * 25, "²", "?!garbage", "\u0661\u0662", "-1"])
def test_foreign_page_tokens_and_negative_page_sizes_are_refused(units_refusing: Stack, token: str) -> None:
    _, tasks, scoring = units_refusing.stubs()
    md = units_refusing.metadata()
    listings: list[tuple[Any, Any]] = [
        (tasks.ListTasks, tasks_pb2.ListTasksRequest),
        (tasks.ListUnits, tasks_pb2.ListUnitsRequest),
        (scoring.ListRecords, scoring_pb2.ListRecordsRequest),
    ]
    for method, request in listings:
        assert invalid(
            lambda method=method, request=request: method(request(page_token=token), metadata=md, timeout=30)
        ) == ["page_token"]
        assert invalid(
            lambda method=method, request=request: method(request(page_size=-1), metadata=md, timeout=30)
        ) == ["page_size"]
    assert invalid(
        lambda: scoring.ListRuns(scoring_pb2.ListRunsRequest(page_size=-5), metadata=md, timeout=30)
    ) == ["page_size"]


def test_a_department_learns_nothing_of_another_units_task_or_a_draft(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    _, tasks, scoring = stack.stubs()
    records = [json.loads(line) for line in example_ledger.decode().splitlines() if line.strip()]
    task = next(
        r for r in records if r["type"] == "task" and "czj" not in [r["lead_unit"], *r.get("co_units", [])]
    )
    czj = stack.metadata("department", "czj")

    def refusal(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        return caught.value.code(), caught.value.details() or ""

    theirs = refusal(
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id=task["id"]), metadata=czj, timeout=30).task
    )
    missing = refusal(
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id="T404"), metadata=czj, timeout=30).task
    )
    assert theirs == (grpc.StatusCode.NOT_FOUND, f"任务 {task['id']!r} 不存在")
    assert missing == (grpc.StatusCode.NOT_FOUND, "任务 'T404' 不存在")
    action = tasks_pb2.AcceptTaskRequest(id=task["id"])
    acted = refusal(lambda: tasks.AcceptTask(action, metadata=czj, timeout=30).task)
    assert acted[0] == grpc.StatusCode.PERMISSION_DENIED and task["lead_unit"] not in acted[1]

    draft = create_run(stack)
    shown = refusal(
        lambda: scoring.GetRun(scoring_pb2.GetRunRequest(id=draft.id), metadata=czj, timeout=30).run
    )
    none = refusal(
        lambda: scoring.GetRun(scoring_pb2.GetRunRequest(id="2025-999"), metadata=czj, timeout=30).run
    )
    assert shown == (grpc.StatusCode.NOT_FOUND, f"考核运行 {draft.id!r} 不存在")
    assert none == (grpc.StatusCode.NOT_FOUND, "考核运行 '2025-999' 不存在")
