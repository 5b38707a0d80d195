"""The audit tables: every change in its own transaction, every refusal, append-only, checked at start-up."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.common.audit import AuditTrail
from services.common.auth import INTERNAL_METADATA, make_user_identity
from services.common.scheme import Scheme
from services.common.settings import ConfigError
from services.common.tls import TlsFiles
from services.gateway.accounts.storage import audit as gateway_audit
from services.gateway.accounts.storage import open_database
from tests.conftest import KEYS, Databases, Stack, internal_metadata, start_stack, stop_stack
from tests.web.stack import with_accounts

TASKS = "/kaohe.tasks.v1.TasksService/"
SCORING = "/kaohe.scoring.v1.ScoringService/"
UNITS = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def rows(stack: Stack, service: str, outcome: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = stack.parts[service].app.audit.rows(outcome=outcome)
    return result


def create_task(stack: Stack, task_id: str, role: str = "supervisor") -> Any:
    _, tasks, _ = stack.stubs()
    return tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(
            id=task_id, title="修路", task_type="leader_directive", lead_unit="fgj", assign_now=True
        ),
        metadata=stack.metadata(role),
        timeout=10,
    ).task


def test_every_change_is_audited_by_the_service_that_made_it(stack: Stack, example_ledger: bytes) -> None:
    """Who (subject, role, unit), what (method, target), when, outcome — in tasks' and scoring's tables."""
    stack.import_ledger(example_ledger)
    create_task(stack, "A1")
    _, tasks, scoring = stack.stubs()
    tasks.AcceptTask(
        tasks_pb2.AcceptTaskRequest(id="A1"), metadata=stack.metadata("department", "fgj"), timeout=10
    )
    fields = struct_pb2.Struct()
    fields.update(
        {
            "id": "E99",
            "unit": "fgj",
            "date": "2025-04-01",
            "category": "drafting",
            "severity": "general",
            "description": "报送材料数据口径不一致",
        }
    )
    record = scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, fields=fields),
        metadata=stack.metadata(),
        timeout=10,
    ).record
    scoring.VoidRecord(
        scoring_pb2.VoidRecordRequest(
            kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id=record.id, reason="录入有误"
        ),
        metadata=stack.metadata(),
        timeout=10,
    )
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60
    ).run

    changes = [(r["method"], r["role"], r["unit"], r["target"]) for r in rows(stack, "tasks", "changed")]
    assert changes == [
        ("ImportLedger", "office", "", "created={'unit': 6, 'task': 12, 'task_event': 17}"),
        ("CreateTask", "supervisor", "", "task=A1"),
        ("Task.accept", "department", "fgj", "task=A1"),
    ]
    assert [(r["method"], r["target"]) for r in rows(stack, "scoring", "changed")][1:] == [
        ("CreateRecord", f"error_report={record.id}"),
        ("VoidRecord", f"error_report={record.id}"),
        ("CreateRun", f"run={run.id}"),
    ]
    every = rows(stack, "tasks") + rows(stack, "scoring")
    assert all(r["subject"] and r["at"] > 1_700_000_000 for r in every)


def test_refusals_at_the_guard_are_audited(stack: Stack) -> None:
    """A call without a credential and a viewer's identity on a write: both refused, both recorded."""
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    request = tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj")
    for metadata, code in (
        ((), grpc.StatusCode.UNAUTHENTICATED),
        (((INTERNAL_METADATA, "forged"),), grpc.StatusCode.UNAUTHENTICATED),
        (
            internal_metadata(make_user_identity(role="viewer", unit=None), TASKS + "CreateTask", request),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            tasks.CreateTask(request, metadata=metadata, timeout=10)
        assert refused.value.code() == code
    refusals = rows(stack, "tasks", "refused")
    assert [(r["method"], r["role"], r["detail"].split(":", 1)[0]) for r in refusals] == [
        (TASKS + "CreateTask", "", "UNAUTHENTICATED"),
        (TASKS + "CreateTask", "", "UNAUTHENTICATED"),
        (TASKS + "CreateTask", "viewer", "PERMISSION_DENIED"),
    ]
    assert rows(stack, "tasks", "changed") == []


def test_a_department_refused_by_a_use_case_is_audited_in_scoring(stack: Stack) -> None:
    stack.import_ledger(jsonl(UNITS))
    """The gateway relays a department's call; scoring's use case refuses another unit and says so."""
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr))
    request = scoring_pb2.GetRunRequest(year=2025, unit="czj")
    fgj = make_user_identity(role="department", unit="fgj")
    with pytest.raises(grpc.RpcError) as refused:
        scoring.GetRun(request, metadata=internal_metadata(fgj, SCORING + "GetRun", request), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [refusal] = rows(stack, "scoring", "refused")
    assert (refusal["role"], refusal["unit"]) == ("department", "fgj")


@pytest.mark.parametrize("statement", ["UPDATE {t} SET outcome = 'x'", "DELETE FROM {t}"])
def test_the_audit_table_is_append_only(stack: Stack, example_ledger: bytes, statement: str) -> None:
    """No RPC edits it, and the database itself refuses to (a trigger on SQLite and PostgreSQL)."""
    stack.import_ledger(example_ledger)
    for service in ("tasks", "scoring"):
        db = stack.parts[service].db
        with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
            conn.execute(text(statement.format(t=f"{service}_audit")))
    assert [r["method"] for r in rows(stack, "tasks", "changed")] == ["ImportLedger"]
    assert [r["method"] for r in rows(stack, "scoring", "changed")] == ["ImportRecords"]


def _break_audit_inserts(stack: Stack, service: str) -> None:
    """A trigger refusing every new audit row: the audit cannot be written any more."""
    db = stack.parts[service].db
    table = f"{service}_audit"
    with db.write() as conn:
        if db.is_sqlite:
            conn.execute(
                text(
                    f"CREATE TRIGGER {table}_broken BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'broken'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION kaohe_broken() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'broken'; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER {table}_broken BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION kaohe_broken()"
                )
            )


def test_a_change_whose_audit_fails_is_not_stored(stack: Stack) -> None:
    """The audit row is in the change's transaction: without it, no task."""
    stack.import_ledger(jsonl(UNITS))
    _break_audit_inserts(stack, "tasks")
    with pytest.raises(grpc.RpcError):
        create_task(stack, "A2")
    _, tasks, _ = stack.stubs()
    with pytest.raises(grpc.RpcError) as missing:
        tasks.GetTask(tasks_pb2.GetTaskRequest(id="A2"), metadata=stack.metadata(), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("service", ["tasks", "scoring"])
def test_a_service_whose_audit_cannot_be_written_refuses_to_start(
    stack: Stack, databases: Databases, service: str
) -> None:
    from services.scoring.__main__ import create as create_scoring
    from services.tasks.__main__ import create as create_tasks

    _break_audit_inserts(stack, service)
    url = stack.parts[service].db.url
    with pytest.raises(ConfigError, match=f"无法写入审计表 {service}_audit"):
        if service == "tasks":
            create_tasks(
                address="127.0.0.1:0",
                db_url=url,
                scheme=stack.scheme,
                keys=KEYS,
                tls=stack.tls.config("tasks"),
            )
        else:
            create_scoring(
                address="127.0.0.1:0",
                db_url=url,
                scheme=stack.scheme,
                keys=KEYS,
                tls=stack.tls.config("scoring"),
                tasks_addr=stack.tasks_addr,
            )


def test_the_gateway_refuses_to_start_when_its_audit_log_cannot_be_written(tmp_path: Path) -> None:
    from services.gateway.__main__ import create as create_gateway

    (tmp_path / "data").write_text("a file where the data directory should be")
    with pytest.raises(ConfigError, match="无法写入审计日志"):
        create_gateway(
            address="127.0.0.1:0",
            keys=KEYS,
            tls=None,
            tasks_addr="127.0.0.1:1",
            scoring_addr="127.0.0.1:2",
            audit_path=tmp_path / "data" / "audit.log",
        )


def test_failed_logins_are_audited_by_the_gateway(stack: Stack) -> None:
    _, tasks, _ = stack.stubs()
    for metadata in ((), (("authorization", "Bearer not-a-token"),)):
        with pytest.raises(grpc.RpcError) as refused:
            tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=metadata, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    lines = [json.loads(line) for line in stack.audit_path.read_text(encoding="utf-8").splitlines()]
    failed = [e for e in lines if e["outcome"] == "unauthenticated"]
    assert [e["method"] for e in failed] == [TASKS + "ListTasks"] * 2


@pytest.fixture
def vanishing(
    databases: Databases, example_scheme: Scheme, tmp_path: Path, tls_files: TlsFiles
) -> Iterator[Stack]:
    """A stack whose gateway keeps its audit log in a data directory that did not exist before it started."""
    running = start_stack(
        tasks_db=databases.url("tasks"),
        scoring_db=databases.url("scoring"),
        scheme=example_scheme,
        tmp=tmp_path / "data" / "missing",
        tls=tls_files,
    )
    yield running
    stop_stack(running)


def test_committed_work_is_never_answered_internal_when_the_data_directory_is_gone(
    vanishing: Stack, tmp_path: Path
) -> None:
    """Issue item 5: a write is stored and answered OK (or refused, not stored), never stored and INTERNAL."""
    assert (tmp_path / "data" / "missing").is_dir()
    shutil.rmtree(tmp_path / "data")
    reply = vanishing.import_ledger(jsonl(UNITS))
    assert dict(reply.created) == {"unit": 2}
    created = create_task(vanishing, "V1")
    assert created.id == "V1"
    _, tasks, _ = vanishing.stubs()
    assert (
        tasks.GetTask(tasks_pb2.GetTaskRequest(id="V1"), metadata=vanishing.metadata(), timeout=10).task.id
        == "V1"
    )
    listed = tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=vanishing.metadata(), timeout=10)
    assert {u.id for u in listed.units} == {"fgj", "czj"}
    assert [r["method"] for r in rows(vanishing, "tasks", "changed")] == ["ImportLedger", "CreateTask"]
    failures = vanishing.parts["gateway"].registry.get_sample_value("kaohe_audit_write_failures_total")
    assert failures == 2


def test_the_gateway_audits_account_changes_and_refusals_in_its_database(
    stack: Stack, databases: Databases
) -> None:
    """With a database (accounts), the gateway keeps gateway_audit: account changes in their transaction,
    failed logins, refusals and the changes it passed on, each in a row."""
    url = databases.url("gateway")
    stack.import_ledger(b'{"type":"unit","id":"fgj","name":"fgj","category":"department"}\n')
    with with_accounts(stack, url) as address:
        channel = stack.channel(address)
        accounts = accounts_pb2_grpc.AccountsServiceStub(channel)
        accounts.AddAccount(
            accounts_pb2.AddAccountRequest(
                username="fgj", role=accounts_pb2.ROLE_DEPARTMENT, unit="fgj", password="s3cret-pass"
            ),
            metadata=stack.metadata("office"),
            timeout=10,
        )
        with pytest.raises(grpc.RpcError):
            accounts.Login(accounts_pb2.LoginRequest(username="fgj", password="wrong"), timeout=10)
        with pytest.raises(grpc.RpcError):
            accounts.ListAccounts(
                accounts_pb2.ListAccountsRequest(), metadata=stack.metadata("viewer"), timeout=10
            )
        db = open_database(url)
        try:
            trail = AuditTrail(db, gateway_audit)
            got = [(r["method"].rsplit("/", 1)[-1], r["role"], r["outcome"]) for r in trail.rows()]
            with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
                conn.execute(text("DELETE FROM gateway_audit"))
        finally:
            db.dispose()
    assert got == [
        ("AddAccount", "office", "changed"),
        ("Login", "anonymous", "denied"),
        ("ListAccounts", "viewer", "denied"),
    ]
