"""Ledger import through the gateway: one bad line refuses the whole file and names the line."""

from __future__ import annotations

import json
import threading
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from tests.conftest import Stack
from tests.tasks_text import TextStub

BASE: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {
        "type": "task",
        "id": "T1",
        "title": "落实批示",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-04-28T10:00:00+08:00",
    },
    {"type": "task_event", "task": "T1", "kind": "report", "at": "2025-05-12T18:00:00+08:00"},
    {"type": "task_event", "task": "T1", "kind": "verify", "at": "2025-05-13T09:00:00+08:00"},
    {"type": "task_event", "task": "T1", "kind": "close", "at": "2025-05-13T09:05:00+08:00"},
    {
        "type": "task",
        "id": "T2",
        "title": "会议事项",
        "task_type": "meeting_decision",
        "lead_unit": "czj",
        "co_units": ["fgj"],
        "assigned_at": "2025-09-26T09:00:00+08:00",
    },
]

# Good lines that a refused file carries before its bad line: none of them may be stored.
FRESH: list[dict[str, Any]] = [
    {"type": "unit", "id": "sfj", "name": "司法局", "category": "department"},
    {
        "type": "task",
        "id": "N1",
        "title": "新事项",
        "task_type": "leader_directive",
        "lead_unit": "sfj",
        "assigned_at": "2025-07-01T09:00:00+08:00",
    },
    {"type": "task_event", "task": "N1", "kind": "accept", "at": "2025-07-01T10:00:00+08:00"},
    {"type": "task_event", "task": "T2", "kind": "accept", "at": "2025-09-26T10:00:00+08:00"},
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def task(task_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "task",
        "id": task_id,
        "title": f"事项 {task_id}",
        "task_type": "leader_directive",
        "lead_unit": "sfj",
        "assigned_at": "2025-07-01T09:00:00+08:00",
        **fields,
    }


def event(task_id: str, kind: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"type": "task_event", "task": task_id, "kind": kind, "at": at, **fields}


def snapshot(stack: Stack) -> tuple[list[tuple[str, str, str]], list[tuple[Any, ...]]]:
    """Every unit, and every task with its state, report and history: what a refused import must not touch."""
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    md = stack.metadata()
    units = tasks.ListUnits(tasks_pb2.ListUnitsRequest(page_size=1000), metadata=md, timeout=10).units
    listed = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=1000), metadata=md, timeout=10).tasks
    full = [tasks.GetTask(tasks_pb2.GetTaskRequest(id=t.id), metadata=md, timeout=10).task for t in listed]
    return (
        [(u.id, u.name, u.category) for u in units],
        [
            (
                t.id,
                t.title,
                t.state,
                t.reported_at,
                t.updated_at,
                t.etag,
                [(e.kind, e.at, e.by, e.note, e.rejected) for e in t.history],
            )
            for t in full
        ],
    )


def violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the refusal carries no google.rpc.Status details"
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    assert found, "the refusal carries no BadRequest field violation"
    return found


def names(found: list[tuple[str, str]], line: int, name: str, words: str = "") -> bool:
    """Whether a violation names the line and the field, and its rule says (some words of) why."""
    # No internal sequence number leaks into a message meant for the office.
    return any(f == f"line {line}: {name}" and words in d and "00000000" not in d for f, d in found)


def refuse(stack: Stack, records: list[dict[str, Any]]) -> tuple[int, list[tuple[str, str]]]:
    with pytest.raises(grpc.RpcError) as refused:
        stack.import_ledger(jsonl(records))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    return len(records), violations(refused.value)


@pytest.fixture
def loaded(stack: Stack) -> Stack:
    reply = stack.import_ledger(jsonl(BASE))
    assert dict(reply.created) == {"unit": 2, "task": 2, "task_event": 3}
    return stack


@pytest.fixture(scope="module")
def loaded_once(module_stack: Stack) -> Stack:
    """loaded, once for the module's refusals: each checks that the snapshot is as it was."""
    reply = module_stack.import_ledger(jsonl(BASE))
    assert dict(reply.created) == {"unit": 2, "task": 2, "task_event": 3}
    return module_stack


CO = "2025-07-01T09:00:00+08:00"
BAD_LINES: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    # case: (the bad lines, appended after FRESH; the last one is the culprit), field, words in the rule
    "event_for_unknown_task": ([event("NOPE", "report", CO)], "task", "不存在"),
    "report_before_assignment": ([event("N1", "report", "2025-06-30T09:00:00+08:00")], "at", "早于"),
    "report_before_stored_assignment": ([event("T2", "report", "2025-09-25T09:00:00+08:00")], "at", "早于"),
    "time_without_offset": ([task("N2", assigned_at="2025-07-01T09:00:00")], "assigned_at", "没有时区"),
    "event_time_without_offset": ([event("N1", "report", "2025-07-02T09:00:00")], "at", "没有时区"),
    "unknown_task_type": ([task("N2", task_type="tea_party")], "task_type", "未知的任务类型"),
    "unknown_priority": ([task("N2", priority="urgent")], "priority", "未知的优先级"),
    "unknown_field": ([task("N2", colour="red")], "colour", "记录的字段"),
    "unknown_field_on_event": ([event("N1", "report", CO, by="x", whom="y")], "whom", "记录的字段"),
    "missing_field": ([{"type": "unit", "id": "x1", "name": "无类别"}], "category", "记录必须有此项"),
    "unknown_event_kind": ([event("N1", "approve", CO)], "kind", "须为以下之一"),
    "co_unit_is_lead": ([task("N2", co_units=["sfj"])], "co_units", "不得包含牵头单位"),
    "co_unit_unknown": ([task("N2", co_units=["nobody"])], "co_units", "不存在"),
    "lead_unit_unknown": ([task("N2", lead_unit="nobody")], "lead_unit", "不存在"),
    "due_before_assigned": ([task("N2", due_at="2025-06-30T23:59:59+08:00")], "due_at", "不得早于交办时间"),
    "changed_unit_under_known_id": (
        [{"type": "unit", "id": "fgj", "name": "发展改革局", "category": "department"}],
        "id",
        "改动的记录",
    ),
    "changed_task_under_known_id": ([{**BASE[2], "title": "另一个标题"}], "id", "改动的记录"),
    "changed_due_under_known_id": (
        [{**BASE[2], "due_at": "2025-05-30T23:59:59+08:00"}],
        "id",
        "改动的记录",
    ),
    "changed_task_within_file": ([task("N2"), task("N2", title="又一个")], "id", "改动的记录"),
    "verify_without_report": ([event("N1", "verify", "2025-07-02T09:00:00+08:00")], "kind", "未被退回的反馈"),
    "reject_without_report": (
        [event("T2", "reject", "2025-09-27T09:00:00+08:00", note="x")],
        "kind",
        "之前须有一次未被退回的反馈",
    ),
    "event_after_stored_close": ([event("T1", "progress", "2025-05-14T09:00:00+08:00")], "kind", "已销号"),
    "event_after_close_in_file": (
        [
            event("N1", "report", "2025-07-02T09:00:00+08:00"),
            event("N1", "close", "2025-07-03T09:00:00+08:00"),
            event("N1", "report", "2025-07-04T09:00:00+08:00"),
        ],
        "kind",
        "任务现为已销号",
    ),
    "event_after_cancel": (
        [
            event("N1", "cancel", "2025-07-02T09:00:00+08:00", note="撤销"),
            event("N1", "accept", "2025-07-03T09:00:00+08:00"),
        ],
        "kind",
        "任务现为已撤销",
    ),
    "changed_event_note": (
        [event("T1", "report", "2025-05-12T18:00:00+08:00", note="附材料")],
        "note",
        "改动的记录",
    ),
    "changed_event_within_file": (
        [
            event("N1", "progress", "2025-07-02T09:00:00+08:00", note="一"),
            event("N1", "progress", "2025-07-02T09:00:00+08:00", note="二"),
        ],
        "note",
        "改动的记录",
    ),
    "not_json": ([], "json", "不是有效的 JSON"),
    "unknown_record_type": ([{"type": "memo", "id": "M1"}], "type", "不是记录类型"),
    "bad_id": ([task("N\t2")], "id", "编号只能由英文字母"),
    "id_as_a_path": ([task("A/../../accounts/view1/disable?")], "id", "编号只能由英文字母"),
    "cjk_id": ([task("督办〔2025〕1号")], "id", "编号只能由英文字母"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_one_bad_line_stores_nothing_and_names_the_line(loaded_once: Stack, case: str) -> None:
    bad, name, words = BAD_LINES[case]
    before = snapshot(loaded_once)
    records = FRESH + bad
    if case == "not_json":
        data = jsonl(records) + b'{"type": "unit", "id": \n'
        line = len(records) + 1
        with pytest.raises(grpc.RpcError) as refused:
            loaded_once.import_ledger(data)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        found = violations(refused.value)
    else:
        line, found = refuse(loaded_once, records)
    assert names(found, line, name, words), found
    assert snapshot(loaded_once) == before


def test_event_line_number_counts_blank_lines(loaded_once: Stack) -> None:
    data = jsonl(FRESH[:2]) + b"\n   \n" + jsonl([event("N1", "verify", "2025-07-02T09:00:00+08:00")])
    before = snapshot(loaded_once)
    with pytest.raises(grpc.RpcError) as refused:
        loaded_once.import_ledger(data)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert names(violations(refused.value), 5, "kind", "未被退回的反馈")
    assert snapshot(loaded_once) == before


def test_event_defined_before_its_task_is_refused(stack: Stack) -> None:
    records = [BASE[0], event("T1", "report", "2025-05-12T18:00:00+08:00"), BASE[2]]
    _, found = refuse(stack, records)
    assert names(found, 2, "task", "行才定义")
    assert snapshot(stack) == ([], [])


def test_bad_scoring_line_leaves_the_task_half_unstored(loaded: Stack) -> None:
    before = snapshot(loaded)
    bad = {"type": "metric_reading", "unit": "sfj", "metric": "happiness_index", "period": "2025", "value": 1}
    line, found = refuse(
        loaded,
        [
            *FRESH,
            {
                "type": "metric_reading",
                "unit": "sfj",
                "metric": "field_research_days",
                "period": "2025",
                "value": 20,
            },
            bad,
        ],
    )
    assert names(found, line, "metric"), found
    assert snapshot(loaded) == before
    _, _, scoring = loaded.stubs()
    records = scoring.ListRecords(scoring_pb2.ListRecordsRequest(), metadata=loaded.metadata(), timeout=10)
    assert list(records.records) == []


def test_bad_task_line_leaves_the_scoring_half_unstored(loaded: Stack) -> None:
    good = {
        "type": "error_report",
        "id": "E1",
        "unit": "fgj",
        "date": "2025-04-01",
        "category": "drafting",
        "severity": "general",
        "description": "口径不一致",
    }
    line, found = refuse(loaded, [good, *FRESH, task("N2", task_type="tea_party")])
    assert names(found, line, "task_type", "未知的任务类型"), found
    _, _, scoring = loaded.stubs()
    records = scoring.ListRecords(scoring_pb2.ListRecordsRequest(), metadata=loaded.metadata(), timeout=10)
    assert list(records.records) == []


def test_refused_file_then_fixed_file_imports(loaded: Stack) -> None:
    refuse(loaded, [*FRESH, task("N2", task_type="tea_party")])
    reply = loaded.import_ledger(jsonl([*FRESH, task("N2")]))
    assert dict(reply.created) == {"unit": 1, "task": 2, "task_event": 2}
    assert dict(reply.unchanged) == {}
    _, raw_tasks, _ = loaded.stubs()
    tasks = TextStub(raw_tasks)
    t2 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T2"), metadata=loaded.metadata(), timeout=10).task
    assert [e.kind for e in t2.history] == ["create", "assign", "accept"]
    assert t2.state == "accepted"


def test_reimport_of_a_partly_stored_file_adds_only_the_new_lines(loaded: Stack) -> None:
    later = event("T2", "report", "2025-10-10T09:00:00+08:00")
    reply = loaded.import_ledger(jsonl([*BASE, later]))
    assert dict(reply.created) == {"task_event": 1}
    assert dict(reply.unchanged) == {"unit": 2, "task": 2, "task_event": 3}
    _, raw_tasks, _ = loaded.stubs()
    tasks = TextStub(raw_tasks)
    t2 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T2"), metadata=loaded.metadata(), timeout=10).task
    assert (t2.state, t2.reported_at, t2.outcome) == ("reported", "2025-10-10T09:00:00+08:00", "on_time")


def test_reject_in_a_later_file_flags_the_stored_report(loaded: Stack) -> None:
    loaded.import_ledger(jsonl([event("T2", "report", "2025-10-10T09:00:00+08:00")]))
    loaded.import_ledger(jsonl([event("T2", "reject", "2025-10-10T15:00:00+08:00", note="缺材料")]))
    _, raw_tasks, _ = loaded.stubs()
    tasks = TextStub(raw_tasks)
    t2 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T2"), metadata=loaded.metadata(), timeout=10).task
    assert [(e.kind, e.rejected) for e in t2.history][-2:] == [("report", True), ("reject", False)]
    assert (t2.state, t2.reported_at, t2.outcome) == ("accepted", "", "")


def test_reject_in_the_same_file_flags_the_report(stack: Stack) -> None:
    stack.import_ledger(
        jsonl(
            [
                *BASE[:2],
                BASE[6],
                event("T2", "report", "2025-10-10T09:00:00+08:00", note="一"),
                event("T2", "reject", "2025-10-10T15:00:00+08:00", note="缺材料"),
                event("T2", "report", "2025-10-16T09:00:00+08:00", note="二"),
            ]
        )
    )
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    t2 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T2"), metadata=stack.metadata(), timeout=10).task
    assert [(e.kind, e.note, e.rejected) for e in t2.history][2:] == [
        ("report", "一", True),
        ("reject", "缺材料", False),
        ("report", "二", False),
    ]
    assert (t2.state, t2.reported_at, t2.outcome) == ("reported", "2025-10-16T09:00:00+08:00", "late")


def test_concurrent_imports_of_one_file_store_it_once(stack: Stack) -> None:
    data = jsonl([*BASE, *FRESH])
    barrier = threading.Barrier(3)
    results: list[Any] = [None] * 3

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = stack.import_ledger(data)
        except grpc.RpcError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stored = [r for r in results if not isinstance(r, grpc.RpcError)]
    # A loser may find everything stored already, or be told to import again: never an internal error.
    lost = [r.code() for r in results if isinstance(r, grpc.RpcError)]
    assert set(lost) <= {grpc.StatusCode.ABORTED}, [
        r.details() for r in results if isinstance(r, grpc.RpcError)
    ]
    assert sum(sum(r.created.values()) for r in stored) == len(BASE) + len(FRESH)
    units, tasks = snapshot(stack)
    assert [u[0] for u in units] == ["czj", "fgj", "sfj"]
    assert [(t[0], len(t[6])) for t in tasks] == [("N1", 3), ("T1", 5), ("T2", 3)]
    again = stack.import_ledger(data)
    assert sum(again.created.values()) == 0


def test_validate_only_stores_nothing(loaded_once: Stack) -> None:
    before = snapshot(loaded_once)
    gateway, _, _ = loaded_once.stubs()
    reply = gateway.ImportLedger(
        iter([gateway_pb2.ImportLedgerRequest(data=jsonl(FRESH), validate_only=True)]),
        metadata=loaded_once.metadata(),
        timeout=60,
    )
    assert dict(reply.created) == {"unit": 1, "task": 1, "task_event": 2}
    assert snapshot(loaded_once) == before


@pytest.mark.parametrize("role", ["supervisor", "department", "viewer"])
def test_only_the_office_imports(loaded_once: Stack, role: str) -> None:
    before = snapshot(loaded_once)
    gateway, _, _ = loaded_once.stubs()
    with pytest.raises(grpc.RpcError) as refused:
        gateway.ImportLedger(
            iter([gateway_pb2.ImportLedgerRequest(data=jsonl(FRESH))]),
            metadata=loaded_once.metadata(role, "fgj" if role == "department" else None),
            timeout=60,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert snapshot(loaded_once) == before


def test_field_violation_is_the_line_and_the_field(loaded: Stack) -> None:
    line, found = refuse(loaded, [*FRESH, task("N2", due_at="2025-06-30T23:59:59+08:00")])
    assert found == [(f"line {line}: due_at", "不得早于交办时间 assigned_at")]


def test_the_loop_is_replayed_as_leniently_as_formats_says(loaded: Stack) -> None:
    """Only what FORMATS.md names is an error; a late accept or a note after the report is recorded."""
    reply = loaded.import_ledger(
        jsonl(
            [
                {"type": "unit", "id": "sfj2", "name": "司法局", "category": "department"},
                task("DB2025-001", lead_unit="sfj2", priority=None, co_units=None),
                event("DB2025-001", "report", "2025-07-02T09:00:00+08:00"),
                event("DB2025-001", "accept", "2025-07-02T10:00:00+08:00"),
                event("DB2025-001", "progress", "2025-07-03T09:00:00+08:00", note="补充材料"),
                event("DB2025-001", "verify", "2025-07-04T09:00:00+08:00"),
                event("DB2025-001", "verify", "2025-07-04T10:00:00+08:00"),
                event("DB2025-001", "report", "2025-07-05T09:00:00+08:00", note="再次反馈"),
            ]
        )
    )
    assert dict(reply.created) == {"unit": 1, "task": 1, "task_event": 6}
    _, raw_tasks, _ = loaded.stubs()
    tasks = TextStub(raw_tasks)
    got = tasks.GetTask(
        tasks_pb2.GetTaskRequest(id="DB2025-001"), metadata=loaded.metadata(), timeout=10
    ).task
    assert (got.state, got.priority, list(got.co_units)) == ("reported", "normal", [])
    assert got.reported_at == "2025-07-05T09:00:00+08:00"


def test_an_empty_file_imports_nothing(loaded: Stack) -> None:
    before = snapshot(loaded)
    reply = loaded.import_ledger(b"\n\n")
    assert (dict(reply.created), dict(reply.unchanged)) == ({}, {})
    assert snapshot(loaded) == before
