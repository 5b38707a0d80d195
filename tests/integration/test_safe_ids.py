"""Issue 21 item 6 (High): ids become paths — every id from outside is of the safe alphabet where it enters.

The audit's appeal id `A/../../accounts/view1/disable?` is refused by the gateway on every method that
takes an id, by the ledger import (tasks and scoring halves), and by the command line before any call.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc, gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli.main import main
from services.common.errors import InvalidArgument
from services.common.ids import check_request_ids
from tests.conftest import Stack
from tests.integration.test_records import violations
from tests.web.stack import with_accounts

HOSTILE = "A/../../accounts/view1/disable?"
UNIT = {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"}


def refused_field(call: Callable[[], Any]) -> str:
    """The one field an INVALID_ARGUMENT refusal names; its rule must be stated in Chinese."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    (found,) = violations(caught.value)
    assert "只能由英文字母" in found[1] or "单位代码" in found[1] or "至多 3 段" in found[1], found
    return found[0]


def test_the_hostile_id_is_refused_on_every_method_that_takes_one(stack: Stack, tmp_path: Path) -> None:
    gateway, tasks, scoring = stack.stubs()
    md = stack.metadata()
    calls: dict[str, Callable[[], Any]] = {
        "id": lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id=HOSTILE), metadata=md, timeout=10).task,
        "appeal": lambda: (
            scoring.DecideAppeal(
                scoring_pb2.DecideAppealRequest(id=HOSTILE, upheld=True, reason="x"), metadata=md, timeout=10
            ).record
        ),
        "run": lambda: (
            scoring.FinalizeRun(scoring_pb2.FinalizeRunRequest(id=HOSTILE), metadata=md, timeout=10).run
        ),
        "record": lambda: (
            scoring.VoidRecord(
                scoring_pb2.VoidRecordRequest(
                    kind=scoring_pb2.RECORD_KIND_METRIC_READING, id=HOSTILE, reason="x"
                ),
                metadata=md,
                timeout=10,
            ).record
        ),
        "application": lambda: (
            scoring.DecideApplication(
                scoring_pb2.DecideApplicationRequest(
                    id=HOSTILE, decision=scoring_pb2.APPLICATION_STATE_EXEMPT, reason="x"
                ),
                metadata=md,
                timeout=10,
            ).application
        ),
        "unit": lambda: tasks.ListTasks(tasks_pb2.ListTasksRequest(unit=HOSTILE), metadata=md, timeout=10),
        "co_units": lambda: (
            tasks.CreateTask(
                tasks_pb2.CreateTaskRequest(
                    title="x", task_type="leader_directive", lead_unit="fgj", co_units=[HOSTILE]
                ),
                metadata=md,
                timeout=10,
            ).task
        ),
        "ranking": lambda: gateway.GetRanking(
            gateway_pb2.GetRankingRequest(run=HOSTILE), metadata=md, timeout=10
        ),
    }
    fields = {name: refused_field(call) for name, call in calls.items()}
    assert fields == {
        "id": "id",
        "appeal": "id",
        "run": "id",
        "record": "id",
        "application": "id",
        "unit": "unit",
        "co_units": "co_units[0]",
        "ranking": "run",
    }
    with with_accounts(stack, f"sqlite:///{tmp_path / 'gateway.db'}") as address:
        accounts = accounts_pb2_grpc.AccountsServiceStub(stack.channel(address))
        assert (
            refused_field(
                lambda: accounts.DisableAccount(
                    accounts_pb2.DisableAccountRequest(username=HOSTILE), metadata=md, timeout=10
                )
            )
            == "username"
        )
    audit = [json.loads(line) for line in stack.audit_path.read_text(encoding="utf-8").splitlines()]
    invalid = [entry for entry in audit if entry["outcome"] == "invalid"]
    assert len(invalid) == len(calls) + 1
    assert {entry["subject"] for entry in invalid} == {"office"}


def test_a_reading_id_of_three_parts_and_a_unit_given_by_name_pass_the_edge(stack: Stack) -> None:
    _, tasks, scoring = stack.stubs()
    md = stack.metadata()
    reply = tasks.ListTasks(tasks_pb2.ListTasksRequest(unit="财政局"), metadata=md, timeout=10)
    assert list(reply.tasks) == []
    with pytest.raises(grpc.RpcError) as caught:
        scoring.VoidRecord(
            scoring_pb2.VoidRecordRequest(
                kind=scoring_pb2.RECORD_KIND_METRIC_READING, id="fgj/court_appearance_rate/2025", reason="x"
            ),
            metadata=md,
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "record",
    [
        {
            "type": "task",
            "id": HOSTILE,
            "title": "x",
            "task_type": "leader_directive",
            "lead_unit": "fgj",
            "assigned_at": "2025-04-28T10:00:00+08:00",
        },
        {
            "type": "error_report",
            "id": HOSTILE,
            "unit": "fgj",
            "date": "2025-06-01",
            "category": "drafting",
            "severity": "general",
            "description": "x",
        },
        {"type": "unit", "id": "财政局", "name": "财政局", "category": "department"},
    ],
    ids=["task", "error_report", "cjk_unit"],
)
def test_the_ledger_import_refuses_an_id_outside_the_alphabet(stack: Stack, record: dict[str, Any]) -> None:
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in (UNIT, record)).encode()
    assert refused_field(lambda: stack.import_ledger(data)) == "line 2: id"
    _, tasks, _ = stack.stubs()
    assert (
        list(tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=stack.metadata(), timeout=10).units) == []
    )


def test_the_command_line_refuses_the_id_before_calling(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAOHE_TLS_CA", str(stack.tls.ca))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    office = ["--gateway", stack.gateway_addr, "--token", stack.token("office")]
    for argv in (["tasks", "show", HOSTILE], ["assess", "finalize", "--run", HOSTILE]):
        with pytest.raises(SystemExit) as exited:
            main([*argv, *office])
        assert exited.value.code == 1
        assert "编号只能由英文字母" in capsys.readouterr().err


def test_the_walk_names_nested_and_repeated_fields() -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_request_ids(tasks_pb2.LookupTasksRequest(ids=["T1", "T 2"]))
    assert caught.value.violations[0].field == "ids[1]"
    check_request_ids(tasks_pb2.LookupTasksRequest(ids=["T1", "DB2025-001", "a.b_c"]))
    check_request_ids(
        scoring_pb2.CreateRecordRequest(
            kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, request_id="any text, 不是编号"
        )
    )
