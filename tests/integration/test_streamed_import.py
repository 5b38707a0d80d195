"""Imports streamed in batches: a file longer than one batch, refused on a late line, stores nothing; the
gateway's spooled copy of the upload is private and gone once the import ends, whatever its outcome."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.tasks.v1 import tasks_pb2

from services.gateway.importing import BATCH
from tests.conftest import Stack
from tests.integration.test_atomic_import import on_phase
from tests.integration.test_tasks_ledger import jsonl, names, snapshot, violations

UNITS = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
]


def many_tasks(count: int, prefix: str = "S") -> list[dict[str, Any]]:
    """count tasks, each with an accept and a report: three lines a task."""
    records: list[dict[str, Any]] = []
    for n in range(count):
        task_id = f"{prefix}{n}"
        records += [
            {
                "type": "task",
                "id": task_id,
                "title": f"事项 {n}",
                "task_type": "leader_directive",
                "lead_unit": "fgj" if n % 2 else "czj",
                "assigned_at": "2025-04-28T10:00:00+08:00",
            },
            {
                "type": "task_event",
                "task": f"{prefix}{n}",
                "kind": "accept",
                "at": "2025-04-28T11:00:00+08:00",
            },
            {
                "type": "task_event",
                "task": f"{prefix}{n}",
                "kind": "report",
                "at": "2025-04-29T11:00:00+08:00",
            },
        ]
    return records


def refused(stack: Stack, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        stack.import_ledger(jsonl(records))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return violations(caught.value)


def test_a_bad_line_in_a_late_batch_stores_nothing(stack: Stack) -> None:
    records = UNITS + many_tasks(BATCH)  # three batches and more
    bad_event = {"type": "task_event", "task": "S7", "kind": "verify", "at": "2025-04-28T10:30:00+08:00"}
    changed = {**records[2], "title": "改过的标题"}
    for bad, name, words in [
        (bad_event, "kind", "未被退回的反馈"),
        (changed, "id", "已按其他值记录"),
        (
            {"type": "task_event", "task": "NOPE", "kind": "accept", "at": "2025-05-01T09:00:00+08:00"},
            "task",
            "",
        ),
    ]:
        found = refused(stack, [*records, bad])
        assert names(found, len(records) + 1, name, words), found
        assert snapshot(stack) == ([], [])


def test_a_file_longer_than_a_batch_is_stored_whole_and_again_unchanged(stack: Stack) -> None:
    records = UNITS + many_tasks(BATCH)
    first = stack.import_ledger(jsonl(records))
    assert dict(first.created) == {"unit": 2, "task": BATCH, "task_event": 2 * BATCH}
    assert first.lines == len(records)
    again = stack.import_ledger(jsonl(records))
    assert dict(again.created) == {}
    assert dict(again.unchanged) == {"unit": 2, "task": BATCH, "task_event": 2 * BATCH}


def test_the_spooled_upload_is_private_and_removed_after_the_import(stack: Stack, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    gateway: Any = stack.parts["gateway"]
    gateway.app.imports.spool_dir = spool
    seen: list[tuple[str, int]] = []
    # While the import runs (between its phases), the spooled files exist, readable by the gateway alone.
    on_phase(
        stack, lambda phase: seen.extend((p.name, stat.S_IMODE(p.stat().st_mode)) for p in spool.iterdir())
    )
    records = (
        UNITS
        + many_tasks(10)
        + [
            {
                "type": "error_report",
                "id": "E1",
                "unit": "fgj",
                "date": "2025-04-01",
                "category": "drafting",
                "severity": "general",
                "description": "报送材料数据口径不一致",
            },
        ]
    )
    stack.import_ledger(jsonl(records))
    assert seen and all(mode == 0o600 for _, mode in seen), seen
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert list(spool.iterdir()) == []
    # Refused (a bad line) and cut off (not UTF-8): nothing left behind either.
    refused(stack, [*records, {"type": "memo"}])
    with pytest.raises(grpc.RpcError):
        stack.import_ledger(jsonl(records) + b"\xff\xfe\n")
    assert list(spool.iterdir()) == []
    # One endless line: refused by its number, not read whole.
    endless = b'{"type": "unit", "id": "x", "name": "' + b"a" * (2 << 20) + b'"}\n'
    with pytest.raises(grpc.RpcError) as caught:
        stack.import_ledger(jsonl(records) + endless)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (f"line {len(records) + 1}", "超过 1 MiB") in violations(caught.value)
    assert list(spool.iterdir()) == []


def _pending_sent(stack: Stack) -> list[int]:
    """The number of the file's tasks each import sends scoring (to check its lines' references against)."""
    app: Any = stack.parts["gateway"].app
    call = app.imports.call
    sent: list[int] = []

    def watched(backend: Any, method: str, request: Any, identity: Any, timeout: float) -> Any:
        if method == "ImportRecords":
            sent.append(sum(len(message.pending_tasks) for message in request.make()))
        return call(backend, method, request, identity, timeout)

    app.imports.call = watched
    return sent


def test_scoring_is_sent_only_the_tasks_of_the_file_its_lines_point_at(stack: Stack) -> None:
    sent = _pending_sent(stack)
    tolerance = {
        "type": "tolerance",
        "id": "R1",
        "unit": "fgj",
        "target_type": "task",
        "target": f"S{BATCH + 1}",  # a task of the file's last batch, led by fgj
        "decision": "exempt",
        "date": "2025-09-01",
        "reason": "容错",
    }
    # The tolerance comes before its task, thousands of lines earlier: still known to scoring.
    records = [*UNITS, tolerance, *many_tasks(BATCH + 2)]
    created = stack.import_ledger(jsonl(records)).created
    assert (created["tolerance"], created["task"]) == (1, BATCH + 2)
    # A ledger of tasks alone sends scoring none of them; one tolerance, its one task.
    stack.import_ledger(jsonl(UNITS + many_tasks(3, "A")))
    assert sent == [1, 0]
    # A tolerance on a task of the file led by another unit is refused by its line, nothing of it stored.
    more = [*UNITS, *many_tasks(6, "B"), {**tolerance, "id": "R2", "target": "B4"}]  # B4: led by czj
    assert names(refused(stack, more), len(more), "target", "不是单位 'fgj' 的任务")
    _, raw_tasks, _ = stack.stubs()
    with pytest.raises(grpc.RpcError) as missing:
        raw_tasks.GetTask(tasks_pb2.GetTaskRequest(id="B4"), metadata=stack.metadata(), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
