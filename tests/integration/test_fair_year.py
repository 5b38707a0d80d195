"""A fair year (issue 17) on SQLite and PostgreSQL: no score for the future, interim runs, `latest`,
extensions (延期), year boundaries, and 定档 held by unverified or rejected reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common import status
from services.common.auth import make_user_identity
from services.common.errors import FailedPrecondition, PermissionDenied
from services.common.result_wire import result_to_json_dict
from services.common.scheme import load_scheme
from services.common.tls import TlsFiles
from services.tasks.domain import Kind
from tests.conftest import Databases, Stack, example_path, run_state, start_stack, stop_stack
from tests.integration.test_records import jsonl, refused
from tests.integration.test_runs import create_run, finalize_now, publish, units_of
from tests.tasks_text import TextStub

# The example scheme with 宁强 6's "最迟不超过2小时" on its written report, and no 公示 appeal window.
SCHEME = (
    example_path("scheme.toml")
    .read_text(encoding="utf-8")
    .replace(
        'limit = { amount = 30, unit = "minutes" }',
        'limit = { amount = 30, unit = "minutes" }\nlatest = { amount = 2, unit = "hours" }',
    )
    .replace("appeal_window_working_days = 5", "appeal_window_working_days = 0")
)

UNITS = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
]


def task(task_id: str, unit: str, task_type: str, assigned: str, due: str | None = None) -> dict[str, Any]:
    record = {
        "type": "task",
        "id": task_id,
        "title": f"事项{task_id}",
        "task_type": task_type,
        "lead_unit": unit,
        "assigned_at": assigned,
    }
    return record | ({"due_at": due} if due else {})


def event(task_id: str, kind: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "task_event", "task": task_id, "kind": kind, "at": at, **extra}


LEDGER = [
    *UNITS,
    # 宁强 6: within 30 minutes, at the latest 2 hours.
    task("W1", "fgj", "emergency_written", "2025-03-03T10:00:00+08:00"),
    event("W1", "report", "2025-03-03T10:31:00+08:00"),  # 1 minute late: one working day's penalty
    task("W2", "fgj", "emergency_written", "2025-03-04T10:00:00+08:00"),
    event("W2", "report", "2025-03-04T13:00:00+08:00"),  # past the 2 hours: nothing
    task("W3", "fgj", "emergency_written", "2025-03-05T10:00:00+08:00"),
    # Extended before its due: the due is the extension's, `latest` no longer applies.
    event("W3", "extend", "2025-03-05T10:20:00+08:00", due_at="2025-03-05T18:00:00+08:00", note="批准延期"),
    event("W3", "report", "2025-03-05T19:00:00+08:00"),
    # Due in 2025, extended into 2026: scored in 2026 only.
    task("X1", "czj", "leader_directive", "2025-12-01T09:00:00+08:00", "2025-12-20T23:59:59+08:00"),
    event("X1", "extend", "2025-12-19T17:00:00+08:00", due_at="2026-01-15T23:59:59+08:00"),
    event("X1", "report", "2026-01-10T10:00:00+08:00"),
    # Assigned on Friday 2025-12-26, seven working days: due in January 2026 (元旦 and Sunday 01-04).
    task("D1", "cgz", "leader_directive", "2025-12-26T09:00:00+08:00"),
    event("D1", "report", "2026-01-06T09:00:00+08:00"),
    # Something of 2025 for the township, on time.
    task("C1", "cgz", "leader_directive", "2025-05-06T09:00:00+08:00", "2025-05-20T23:59:59+08:00"),
    event("C1", "report", "2025-05-19T09:00:00+08:00"),
]


def instant(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def at_clock(stack: Stack, text: str) -> None:
    """The scoring service's clock: the instant a run is made."""
    stack.parts["scoring"].app.clock = lambda: instant(text)


def lines(run: Any, unit: str) -> dict[str, dict[str, Any]]:
    return {t["task"]: t for t in units_of(run)[unit]["breakdown"]["tasks"]}


@pytest.fixture
def fair(databases: Databases, tmp_path: Path, tls_files: TlsFiles) -> Iterator[Stack]:
    running = start_stack(
        tasks_db=databases.url("tasks"),
        scoring_db=databases.url("scoring"),
        scheme=load_scheme(SCHEME),
        tmp=tmp_path,
        tls=tls_files,
    )
    running.import_ledger(jsonl(LEDGER))
    yield running
    stop_stack(running)


def test_latest_cuts_a_late_report_to_nothing_while_the_due_is_the_computed_one(fair: Stack) -> None:
    at_clock(fair, "2026-02-01T09:00:00+08:00")
    run = create_run(fair, year=2025)
    fgj = lines(run, "fgj")
    assert (fgj["W1"]["late_working_days"], fgj["W1"]["credit"]) == (1, pytest.approx(0.9))
    assert (fgj["W2"]["late_working_days"], fgj["W2"]["credit"]) == (1, 0.0)
    # W3 was extended: reported an hour after its new due, one working day late, no cut-off.
    assert fgj["W3"]["due_at"] == "2025-03-05T18:00:00+08:00" and fgj["W3"]["extended"] is True
    assert fgj["W3"]["credit"] == pytest.approx(0.9)
    assert not fgj["W1"]["extended"] and not fgj["W2"]["extended"]


def test_an_extension_moves_the_due_that_counts_and_the_year_it_is_scored_in(fair: Stack) -> None:
    _, raw_tasks, _ = fair.stubs()
    tasks = TextStub(raw_tasks)
    shown = tasks.GetTask(tasks_pb2.GetTaskRequest(id="X1"), metadata=fair.metadata(), timeout=30).task
    assert shown.due_at == "2026-01-15T23:59:59+08:00"
    extend = [e for e in shown.history if e.kind == "extend"]
    assert [(e.at, e.due_at) for e in extend] == [("2025-12-19T17:00:00+08:00", "2026-01-15T23:59:59+08:00")]
    # The township's task assigned in December is due in January: computed on the statutory calendar.
    d1 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="D1"), metadata=fair.metadata(), timeout=30).task
    assert d1.due_at == "2026-01-07T23:59:59+08:00"

    at_clock(fair, "2026-02-01T09:00:00+08:00")
    run_2025 = create_run(fair, year=2025)
    assert "X1" not in lines(run_2025, "czj") and "D1" not in lines(run_2025, "cgz")
    # Before the extension (as_of 2025-12-18), X1's own due (12-20) was not yet due either.
    before = create_run(fair, year=2025, as_of="2025-12-18T12:00:00+08:00")
    assert "X1" not in lines(before, "czj")

    at_clock(fair, "2027-01-10T09:00:00+08:00")
    run_2026 = create_run(fair, year=2026)
    x1 = lines(run_2026, "czj")["X1"]
    assert (x1["due_at"], x1["extended"], x1["credit"]) == ("2026-01-15T23:59:59+08:00", True, 1.0)
    d1_line = lines(run_2026, "cgz")["D1"]
    assert (d1_line["due_at"], d1_line["extended"], d1_line["credit"]) == (
        "2026-01-07T23:59:59+08:00",
        False,
        1.0,
    )


def test_a_year_without_a_calendar_across_new_year(fair: Stack) -> None:
    fair.import_ledger(jsonl([task("N1", "fgj", "leader_directive", "2027-12-29T09:00:00+08:00")]))
    _, raw_tasks, _ = fair.stubs()
    tasks = TextStub(raw_tasks)
    n1 = tasks.GetTask(tasks_pb2.GetTaskRequest(id="N1"), metadata=fair.metadata(), timeout=30).task
    # Monday to Friday only: Dec 30, 31, then Jan 3 to 7 2028.
    assert n1.due_at == "2028-01-07T23:59:59+08:00"
    at_clock(fair, "2028-03-01T09:00:00+08:00")
    nothing = refused(lambda: create_run(fair, year=2027), grpc.StatusCode.INVALID_ARGUMENT)
    assert "2027" in (nothing.details() or "")
    at_clock(fair, "2029-02-01T09:00:00+08:00")
    run = create_run(fair, year=2028)
    assert lines(run, "fgj")["N1"]["credit"] == 0.0
    assert 2028 in result_to_json_dict(run.result)["calendar_warnings"]


def test_no_score_for_the_future_and_interim_runs(fair: Stack) -> None:
    at_clock(fair, "2025-07-01T12:00:00+08:00")
    future = refused(
        lambda: create_run(fair, year=2025, as_of="2025-08-01"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "2025-08-01T23:59:59+08:00" in (future.details() or "")
    not_begun = refused(lambda: create_run(fair, year=2026), grpc.StatusCode.INVALID_ARGUMENT)
    assert "2026" in (not_begun.details() or "") and "尚未开始" in (not_begun.details() or "")

    run = create_run(fair, year=2025)
    document = result_to_json_dict(run.result)
    assert document["as_of"] == "2025-07-01T12:00:00+08:00" and document["interim"] is True
    # Only what is due by now counts: the township's May task, none of the later ones.
    assert set(lines(run, "cgz")) == {"C1"} and "X1" not in lines(run, "czj")
    published = publish(fair, run.id)
    assert run_state(published) == "publicised"
    held = refused(lambda: finalize_now(fair, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "期中" in (held.details() or "")


def test_finalize_waits_for_every_counted_report_to_be_verified(fair: Stack) -> None:
    at_clock(fair, "2026-02-01T09:00:00+08:00")
    run = create_run(fair, year=2025)
    assert result_to_json_dict(run.result)["interim"] is False
    assert lines(run, "fgj")["W1"]["verified"] is False
    publish(fair, run.id)
    _, raw_tasks, scoring = fair.stubs()
    tasks = TextStub(raw_tasks)

    def finalize() -> Any:
        return scoring.FinalizeRun(
            scoring_pb2.FinalizeRunRequest(id=run.id), metadata=fair.metadata(), timeout=60
        ).run

    held = refused(finalize, grpc.StatusCode.FAILED_PRECONDITION)
    details = held.details() or ""
    assert "尚未核查" in details and all(t in details for t in ("W1", "W2", "W3", "C1"))
    for task_id in ("W1", "W2", "W3"):
        tasks.VerifyTask(tasks_pb2.VerifyTaskRequest(id=task_id), metadata=fair.metadata(), timeout=30)
    held = refused(finalize, grpc.StatusCode.FAILED_PRECONDITION)
    assert "C1" in (held.details() or "") and "W1" not in (held.details() or "")
    tasks.VerifyTask(tasks_pb2.VerifyTaskRequest(id="C1"), metadata=fair.metadata(), timeout=30)
    assert run_state(finalize()) == "final"
    # A new run now says so in its breakdown.
    again = create_run(fair, year=2025)
    assert lines(again, "fgj")["W1"]["verified"] is True and lines(again, "cgz")["C1"]["verified"] is True


def test_a_report_rejected_under_a_run_holds_its_finalize(fair: Stack) -> None:
    at_clock(fair, "2026-02-01T09:00:00+08:00")
    run = create_run(fair, year=2025)
    publish(fair, run.id)
    _, raw_tasks, _ = fair.stubs()
    tasks = TextStub(raw_tasks)
    tasks.RejectTask(
        tasks_pb2.RejectTaskRequest(id="W1", note="材料不全"), metadata=fair.metadata(), timeout=30
    )
    held = refused(lambda: finalize_now(fair, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "W1" in (held.details() or "") and "重新计算" in (held.details() or "")


def test_the_office_extends_an_open_task_and_nobody_else(fair: Stack) -> None:
    fair.import_ledger(
        jsonl(
            [task("F1", "fgj", "leader_directive", "2025-03-03T09:00:00+08:00", "2099-06-30T23:59:59+08:00")]
        )
    )
    app = fair.parts["tasks"].app
    office = make_user_identity(role="office", unit=None)
    department = make_user_identity(role="department", unit="fgj")

    def extend(actor: Any, due: str, request: str) -> Any:
        return app.act(
            actor=actor,
            kind=Kind.EXTEND,
            task_id="F1",
            etag="",
            note="确因特殊情况",
            request_id=request,
            due_at=due,
        )

    with pytest.raises(PermissionDenied):
        extend(department, "2099-07-31T23:59:59+08:00", "r1")
    with pytest.raises(FailedPrecondition, match="须晚于"):
        extend(office, "2099-06-01T23:59:59+08:00", "r2")
    view = extend(office, "2099-07-31T23:59:59+08:00", "r3")
    assert view.due_at == "2099-07-31T23:59:59+08:00"
    assert [e.due_at for e in view.history if e.kind == "extend"] == ["2099-07-31T23:59:59+08:00"]
    # No longer a computed due instant: the stored row says it was given, and stays so.
    _, raw_tasks, _ = fair.stubs()
    tasks = TextStub(raw_tasks)
    shown = tasks.GetTask(tasks_pb2.GetTaskRequest(id="F1"), metadata=fair.metadata(), timeout=30).task
    assert shown.due_at == "2099-07-31T23:59:59+08:00" and shown.color == "blue"
    # A reported task is no longer open: no extension.
    for step in ("AcceptTask", "ReportTask"):
        request = getattr(tasks_pb2, step + "Request")(id="F1", note="已完成")
        getattr(tasks, step)(request, metadata=fair.metadata(), timeout=30)
    with pytest.raises(FailedPrecondition):
        extend(office, "2099-09-30T23:59:59+08:00", "r4")


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        # After the due in force (03-10 of W9): too late to extend.
        (
            event("W9", "extend", "2025-03-11T09:00:00+08:00", due_at="2025-03-20T23:59:59+08:00"),
            "kind",
            "之前",
        ),
        (
            event("W9", "extend", "2025-03-05T09:00:00+08:00", due_at="2025-03-08T23:59:59+08:00"),
            "kind",
            "须晚于",
        ),
        (event("W9", "extend", "2025-03-05T09:00:00+08:00"), "due_at", "须给出"),
        (
            event("W9", "report", "2025-03-05T09:00:00+08:00", due_at="2025-03-20T23:59:59+08:00"),
            "due_at",
            "只有",
        ),
    ],
)
def test_an_extension_the_rules_refuse_is_not_imported(
    fair: Stack, line: dict[str, Any], field: str, words: str
) -> None:
    w9 = task("W9", "fgj", "leader_directive", "2025-03-03T09:00:00+08:00", "2025-03-10T23:59:59+08:00")
    error = refused(lambda: fair.import_ledger(jsonl([w9, line])), grpc.StatusCode.INVALID_ARGUMENT)
    assert words in (error.details() or "") or any(words in v for v in _violations(error)), error.details()
    _, raw_tasks, _ = fair.stubs()
    tasks = TextStub(raw_tasks)
    refused(
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id="W9"), metadata=fair.metadata(), timeout=30).task,
        grpc.StatusCode.NOT_FOUND,
    )


def _violations(error: grpc.RpcError) -> list[str]:
    return [f"{v.field}: {v.description}" for v in status.field_violations(error)]


def test_the_migration_keeps_each_tasks_latest_verify(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from services.common.db import Database, migrate
    from services.tasks.__main__ import MIGRATIONS

    db = Database(databases.url("tasks"), sequence="tasks_change_sequence")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (id, name, category, created_at) VALUES ('fgj', '发改局', 'department', 0)"
            )
        )
        for task_id in ("A", "B"):
            conn.execute(
                text(
                    "INSERT INTO tasks (id, title, task_type, source, lead_unit, priority, state,"
                    " assigned_at, due_at, due_given, reported_at, created_at, updated_at, version, record)"
                    " VALUES (:id, 't', 'leader_directive', '', 'fgj', 'normal', 'verified',"
                    " 0, 100, false, 50, 0, 0, 1, '{}')"
                ),
                {"id": task_id},
            )
        for kind, at in (("report", 50), ("verify", 60), ("verify", 70)):
            conn.execute(
                text(
                    "INSERT INTO task_events (task_id, kind, at, by, note, rejected, recorded_at)"
                    " VALUES ('A', :kind, :at, '', '', false, 0)"
                ),
                {"kind": kind, "at": at},
            )
    migrate(db, MIGRATIONS, service="tasks")
    with db.engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT id, verified_at FROM tasks ORDER BY id")).all())
    assert rows == {"A": 70, "B": None}
    db.dispose()
