"""Request ids as AIP-155 means them: scoped to the caller and the method, bound to the request, never cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from sqlalchemy import inspect

from services.common.db import Database, migrate
from tests.conftest import Databases, Stack
from tests.integration.test_records import kind_number, kind_of, refused, struct, violations
from tests.integration.test_runs import create_run, publish

ROOT = Path(__file__).resolve().parents[2]
REPORT = {
    "id": "E9",
    "unit": "czj",
    "date": "2025-06-01",
    "category": "drafting",
    "severity": "general",
    "description": "内部材料：只给办公室看",
}


def record(stack: Stack, kind: str, fields: dict[str, Any], request_id: str, **caller: Any) -> Any:
    _, _, scoring = stack.stubs()
    return scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(request_id=request_id, kind=kind_number(kind), fields=struct(fields)),
        metadata=stack.metadata(**caller),
        timeout=30,
    ).record


def test_a_department_reusing_the_office_request_id_gets_its_own_write(example: Stack) -> None:
    publish(example, create_run(example).id)
    office = record(example, "error_report", REPORT, "shared-id")
    assert (kind_of(office), office.id, office.unit) == ("error_report", "E9", "czj")
    appeal = {"id": "AP9", "error_report": "E1", "date": "2026-01-05", "reason": "材料已按时报送"}
    mine = record(example, "appeal", appeal, "shared-id", role="department", unit="fgj")
    assert (kind_of(mine), mine.id, mine.unit) == ("appeal", "AP9", "fgj")
    assert "只给办公室看" not in str(mine)
    _, _, scoring = example.stubs()
    stored = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(kind=scoring_pb2.RECORD_KIND_APPEAL),
        metadata=example.metadata(),
        timeout=30,
    )
    assert "AP9" in [r.id for r in stored.records]
    seen = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(page_size=1000),
        metadata=example.metadata("department", "fgj"),
        timeout=30,
    )
    assert "E9" not in [r.id for r in seen.records]


def test_a_retry_gets_the_first_answer_and_a_different_request_is_refused(example: Stack) -> None:
    first = record(example, "error_report", REPORT, "retry-id")
    again = record(example, "error_report", REPORT, "retry-id")
    assert (again.id, again.etag, again.created_at) == (first.id, first.etag, first.created_at)
    other = {**REPORT, "id": "E10"}
    error = refused(
        lambda: record(example, "error_report", other, "retry-id"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [name for name, _ in violations(error)] == ["request_id"]


def test_a_request_id_over_the_limit_is_refused_and_ids_sharing_a_prefix_are_two(example: Stack) -> None:
    error = refused(
        lambda: record(example, "error_report", REPORT, "x" * 129), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [name for name, _ in violations(error)] == ["request_id"]
    prefix = "p" * 127
    one = record(example, "error_report", REPORT, prefix + "a")
    two = record(example, "error_report", {**REPORT, "id": "E10"}, prefix + "b")
    assert (one.id, two.id) == ("E9", "E10")


def test_task_request_ids_are_scoped_and_bound(example: Stack) -> None:
    _, tasks, _ = example.stubs()

    def create(task_id: str, request_id: str) -> Any:
        return tasks.CreateTask(
            tasks_pb2.CreateTaskRequest(
                request_id=request_id,
                id=task_id,
                title="复核材料",
                task_type="leader_directive",
                lead_unit="fgj",
            ),
            metadata=example.metadata(),
            timeout=30,
        ).task

    assert create("TX1", "task-id").id == "TX1"
    assert create("TX1", "task-id").id == "TX1"  # a retry: the first answer, no "already exists"
    error = refused(lambda: create("TX2", "task-id"), grpc.StatusCode.INVALID_ARGUMENT)
    assert [name for name, _ in violations(error)] == ["request_id"]
    error = refused(lambda: create("TX3", "t" * 129), grpc.StatusCode.INVALID_ARGUMENT)
    assert [name for name, _ in violations(error)] == ["request_id"]


def test_both_services_migrate_into_one_database(databases: Databases) -> None:
    """The tasks and scoring services share one database (one PostgreSQL schema) without a clash."""
    db = Database(databases.url("shared"))
    try:
        migrate(db, ROOT / "services" / "tasks" / "storage" / "migrations", service="tasks")
        migrate(db, ROOT / "services" / "scoring" / "storage" / "migrations", service="scoring")
        migrate(db, ROOT / "services" / "tasks" / "storage" / "migrations", service="tasks")
        names = set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
    assert {"tasks_requests", "scoring_requests", "tasks", "records", "runs"} <= names
    assert "requests" not in names


def test_an_older_database_loses_its_unscoped_requests_table(databases: Databases) -> None:
    """A database migrated before keeps its data; its old "requests" table gives way to scoring_requests."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    db = Database(databases.url("old"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(ROOT / "services" / "scoring" / "storage" / "migrations"))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            conn.execute(text("CREATE TABLE requests (request_id VARCHAR(128) PRIMARY KEY)"))
        migrate(db, ROOT / "services" / "scoring" / "storage" / "migrations", service="scoring")
        names = set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
    assert "scoring_requests" in names and "requests" not in names
