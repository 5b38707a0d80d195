"""The worked example through the gateway: import, run, show — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.result_wire import result_to_json_dict
from tests.conftest import Stack
from tests.tasks_text import TextStub, typed

NUMBERS = (
    "timeliness_earned",
    "timeliness_max",
    "metrics_earned",
    "metrics_max",
    "base",
    "bonus",
    "error_deduction",
    "accountability_deduction",
)


def run_example(stack: Stack, ledger: bytes) -> dict[str, Any]:
    stack.import_ledger(ledger)
    _, _, scoring = stack.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025, scheme_toml=stack.scheme.text),
        metadata=stack.metadata(),
        timeout=60,
    ).run
    shown = scoring.GetRun(scoring_pb2.GetRunRequest(year=2025), metadata=stack.metadata(), timeout=30).run
    assert shown.id == run.id
    return dict(result_to_json_dict(shown.result))


def test_worked_example_matches_expected(stack: Stack, example_ledger: bytes, expected_result: dict) -> None:
    document = run_example(stack, example_ledger)
    got = {u["unit"]: u for u in document["units"]}
    assert set(got) == {u["unit"] for u in expected_result["units"]}
    for want in expected_result["units"]:
        have = got[want["unit"]]
        for key in NUMBERS:
            assert have[key] == pytest.approx(want[key], abs=1e-6), (want["unit"], key)
        assert (have["total"], have["rank"], have["grade"], have["veto"]) == (
            want["total"],
            want["rank"],
            want["grade"],
            want["veto"],
        )
    assert document["calendar_warnings"] == []
    assert document["scheme_sha256"] == stack.scheme.sha256


def test_breakdown_adds_up_to_the_totals(stack: Stack, example_ledger: bytes) -> None:
    document = run_example(stack, example_ledger)
    for unit in document["units"]:
        b = unit["breakdown"]
        assert sum(t["points"] for t in b["tasks"]) == pytest.approx(unit["timeliness_earned"], abs=1e-9)
        assert sum(m["earned"] for m in b["metrics"]) == pytest.approx(unit["metrics_earned"], abs=1e-9)
        assert sum(m["max"] for m in b["metrics"]) == pytest.approx(unit["metrics_max"], abs=1e-9)
        assert min(b["caps"]["errors"]["cap"], sum(e["points"] for e in b["errors"])) == pytest.approx(
            unit["error_deduction"]
        )


def test_rerun_reproduces_every_number(stack: Stack, example_ledger: bytes) -> None:
    first = run_example(stack, example_ledger)
    _, _, scoring = stack.stubs()
    again = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025, scheme_toml=stack.scheme.text),
        metadata=stack.metadata(),
        timeout=60,
    ).run
    runs = scoring.ListRuns(
        scoring_pb2.ListRunsRequest(year=2025), metadata=stack.metadata(), timeout=10
    ).runs
    assert len({r.input_digest for r in runs}) == 1
    second = result_to_json_dict(again.result)
    assert [u | {"breakdown": None} for u in second["units"]] == [
        u | {"breakdown": None} for u in first["units"]
    ]
    assert second["units"] == first["units"]


def test_task_list_due_instants(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    listed = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=100), metadata=stack.metadata(), timeout=10)
    due = {t.id: t.due_at for t in listed.tasks}
    assert due["T1"] == "2025-05-12T23:59:59+08:00"
    assert due["T2"] == "2025-10-13T23:59:59+08:00"
    assert due["T3"] == "2025-06-10T23:59:59+08:00"
    assert due["T6"] == "2026-01-06T23:59:59+08:00"
    t1 = next(t for t in listed.tasks if t.id == "T1")
    assert (t1.state, t1.color, t1.outcome, t1.reported_at) == (
        "closed",
        "",
        "on_time",
        "2025-05-12T18:00:00+08:00",
    )
    t5 = next(t for t in listed.tasks if t.id == "T5")
    assert t5.color == "red" and t5.outcome == ""


def test_import_twice_changes_nothing(stack: Stack, example_ledger: bytes) -> None:
    first = stack.import_ledger(example_ledger)
    second = stack.import_ledger(example_ledger)
    assert sum(first.created.values()) == 73
    assert sum(second.created.values()) == 0
    assert sum(second.unchanged.values()) == 73


def test_unauthenticated_calls_are_refused(stack: Stack) -> None:
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    with pytest.raises(grpc.RpcError) as missing:
        tasks.ListTasks(typed(tasks_pb2.ListTasksRequest), timeout=5)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_run_under_another_scheme_computes_due_instants_under_it(
    databases: Any,
    example_scheme: Any,
    example_ledger: bytes,
    expected_result: dict,
    tmp_path: Any,
    tls_files: Any,
) -> None:
    """Served with a scheme lacking the local holiday 06-06, run with the example's (the README's steps)."""
    from services.common.scheme import load_scheme
    from tests.conftest import start_stack, stop_stack

    served = load_scheme(
        example_scheme.text.replace('extra_holidays = ["2025-06-06"]', "extra_holidays = []")
    )
    stack = start_stack(
        tasks_db=databases.url("tasks"),
        scoring_db=databases.url("scoring"),
        scheme=served,
        tmp=tmp_path,
        tls=tls_files,
    )
    try:
        stack.import_ledger(example_ledger)
        _, raw_tasks, scoring = stack.stubs()
        tasks = TextStub(raw_tasks)
        t3 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="T3"), metadata=stack.metadata(), timeout=10).task
        assert t3.due_at == "2025-06-09T23:59:59+08:00"  # as the served scheme computes it
        run = scoring.CreateRun(
            scoring_pb2.CreateRunRequest(year=2025, scheme_toml=example_scheme.text),
            metadata=stack.metadata(),
            timeout=60,
        ).run
        got = {u["unit"]: u for u in result_to_json_dict(run.result)["units"]}
        for want in expected_result["units"]:
            assert (got[want["unit"]]["total"], got[want["unit"]]["grade"]) == (want["total"], want["grade"])
        lines = {t["task"]: t for t in got["fgj"]["breakdown"]["tasks"]}
        assert (lines["T3"]["due_at"], lines["T3"]["late_working_days"]) == ("2025-06-10T23:59:59+08:00", 4)
        # Under the served scheme the same ledger scores T3 a day later: L = 5.
        plain = scoring.CreateRun(
            scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60
        ).run
        fgj = next(u for u in result_to_json_dict(plain.result)["units"] if u["unit"] == "fgj")
        assert next(t for t in fgj["breakdown"]["tasks"] if t["task"] == "T3")["late_working_days"] == 5
    finally:
        stop_stack(stack)
