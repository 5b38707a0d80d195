"""容错 applications and appeals as a workflow through the gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import grpc
import pytest
from kaohe.scoring.v1 import scoring_pb2
from sqlalchemy import select

from services.common.db import Database, migrate
from services.common.wire_json import lenient_number
from services.scoring.__main__ import MIGRATIONS
from services.scoring.storage.tables import records, workflow_events
from tests.conftest import Databases, Stack, run_time
from tests.integration.test_records import create_record, fields_of, list_records, refused, violations
from tests.integration.test_runs import create_run, finalize_now, publish, scoring_stub, units_of
from tests.integration.test_targets_and_appeals import appeal_stored_at, import_records
from tests.wire_read import read

TARGET = scoring_pb2.ApplicationTargetType.DESCRIPTOR
STATE = scoring_pb2.ApplicationState.DESCRIPTOR


def _filters(enum: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """A list's filters with its state's code as the enum."""
    return {**filters, "state": lenient_number(enum, filters["state"])} if "state" in filters else filters


def file(stack: Stack, caller: str | None, target_type: str, target: str, **fields: Any) -> Any:
    """A 容错 application: the department caller's token when one is named, else the office's."""
    role = "department" if caller else "office"
    return read(
        scoring_stub(stack)
        .FileApplication(
            scoring_pb2.FileApplicationRequest(
                target_type=lenient_number(TARGET, target_type),
                target=target,
                reason=fields.pop("reason", "因上级调整延误"),
                **fields,
            ),
            metadata=stack.metadata(role, caller),
            timeout=30,
        )
        .application
    )


def decide(stack: Stack, app_id: str, decision: str, reason: str = "符合容错情形", **kw: Any) -> Any:
    role, unit = kw.pop("role", "office"), kw.pop("unit", None)
    return read(
        scoring_stub(stack)
        .DecideApplication(
            scoring_pb2.DecideApplicationRequest(
                id=app_id, decision=lenient_number(STATE, decision), reason=reason, **kw
            ),
            metadata=stack.metadata(role, unit),
            timeout=30,
        )
        .application
    )


def applications(stack: Stack, role: str = "office", caller: str | None = None, **filters: Any) -> list[Any]:
    reply = scoring_stub(stack).ListApplications(
        scoring_pb2.ListApplicationsRequest(**_filters(STATE, filters)),
        metadata=stack.metadata(role, caller),
        timeout=30,
    )
    return [read(a) for a in reply.applications]


def appeals(stack: Stack, role: str = "office", caller: str | None = None, **filters: Any) -> list[Any]:
    reply = scoring_stub(stack).ListAppeals(
        scoring_pb2.ListAppealsRequest(**_filters(scoring_pb2.AppealState.DESCRIPTOR, filters)),
        metadata=stack.metadata(role, caller),
        timeout=30,
    )
    return [read(a) for a in reply.appeals]


def task_line(run: Any, unit: str, task: str) -> dict[str, Any]:
    line: dict[str, Any] = next(t for t in units_of(run)[unit]["breakdown"]["tasks"] if t["task"] == task)
    return line


def at(stack: Stack, instant: str) -> None:
    """Sets the scoring service's clock."""
    stack.parts["scoring"].app.clock = lambda: int(datetime.fromisoformat(instant).timestamp())


def test_an_exempt_decision_on_a_late_task_gives_its_unit_full_credit_only(example: Stack) -> None:
    before = create_run(example)
    # T3: fgj leads, czj co-operates; fgj's report was rejected and came late.
    assert 0 < task_line(before, "fgj", "T3")["credit"] < 1
    filed = file(example, "fgj", "task", "T3", reason="签约方临时变更，已及时报告")
    assert (filed.unit, filed.year, filed.state, filed.target_type, filed.target) == (
        "fgj",
        2025,
        "pending",
        "task",
        "T3",
    )
    assert filed.id == "RC2025-001"
    assert [(e.event, e.actor_role, e.actor_unit, e.reason) for e in filed.timeline] == [
        ("filed", "department", "fgj", "签约方临时变更，已及时报告")
    ]
    assert [a.id for a in applications(example, "department", "fgj", state="pending")] == [filed.id]

    decided = decide(example, filed.id, "exempt", "客观原因，予以免责")
    assert (decided.state, decided.decision_reason) == ("exempt", "客观原因，予以免责")
    assert [(e.event, e.actor_role, e.outcome) for e in decided.timeline] == [
        ("filed", "department", ""),
        ("decided", "office", "exempt"),
    ]
    (record,) = [r for r in list_records(example, kind="tolerance") if r.id == filed.id]
    fields = fields_of(record)
    assert (record.unit, fields["target_type"], fields["target"], fields["decision"]) == (
        "fgj",
        "task",
        "T3",
        "exempt",
    )
    assert fields["reason"] == "客观原因，予以免责"

    after = create_run(example)
    line = task_line(after, "fgj", "T3")
    assert (line["credit"], line["tolerance"]) == (1, {"id": filed.id, "decision": "exempt"})
    assert task_line(after, "czj", "T3") == task_line(before, "czj", "T3")
    assert units_of(after)["fgj"]["total"] > units_of(before)["fgj"]["total"]


def test_a_refused_application_changes_nothing_and_a_mitigated_one_scales_the_deduction(
    example: Stack,
) -> None:
    before = units_of(create_run(example))
    first = file(example, "sfj", "error_report", "E4", reason="值班系统故障")
    refused_one = decide(example, first.id, "refused", "理由不成立")
    assert refused_one.state == "refused"
    assert [r.id for r in list_records(example, kind="tolerance") if r.id == first.id] == []
    unchanged = units_of(create_run(example))
    assert unchanged["sfj"]["total"] == before["sfj"]["total"]

    # Decided, the target takes a new application; the office mitigates it.
    second = file(example, "sfj", "error_report", "E4", reason="补充说明：系统故障有记录")
    assert second.id != first.id
    decide(example, second.id, "mitigate", "酌情减轻")
    after = units_of(create_run(example))
    (line,) = [e for e in after["sfj"]["breakdown"]["errors"] if e["id"] == "E4"]
    assert line["tolerance"] == {"id": second.id, "decision": "mitigate"}
    assert line["points"] == pytest.approx(line["deduction"] * example.scheme.error_reports.mitigation_factor)
    assert after["sfj"]["error_deduction"] < before["sfj"]["error_deduction"]


def test_a_department_applies_for_its_own_unit_only_and_sees_its_own_only(example: Stack) -> None:
    for call, code in (
        (lambda: file(example, "czj", "task", "T1"), grpc.StatusCode.PERMISSION_DENIED),
        (lambda: file(example, "czj", "error_report", "E1"), grpc.StatusCode.PERMISSION_DENIED),
        (lambda: file(example, "czj", "task", "T1", unit="fgj"), grpc.StatusCode.PERMISSION_DENIED),
        (
            lambda: decide(example, "RC2025-001", "exempt", role="department", unit="fgj"),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ):
        refused(call, code)
    for bad, field in (
        ({"target": "T404"}, "target"),
        ({"target_type": "incentive"}, "target_type"),
        ({"reason": " "}, "reason"),
    ):
        args = {"target_type": "task", "target": "T3", **bad}
        error = refused(
            lambda args=args: file(example, "fgj", args.pop("target_type"), args.pop("target"), **args),  # type: ignore[misc]
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert [f for f, _ in violations(error)] == [field]
    # A co-unit applies for its own share of a task; the office files for a unit it names.
    mine = file(example, "czj", "task", "T3")
    theirs = file(example, None, "error_report", "E1", unit="fgj")
    assert (mine.unit, theirs.unit) == ("czj", "fgj")
    refused(lambda: file(example, None, "task", "T1", unit="czj"), grpc.StatusCode.INVALID_ARGUMENT)
    assert [a.id for a in applications(example, "department", "czj")] == [mine.id]
    assert [a.id for a in applications(example, "department", "fgj")] == [theirs.id]
    assert {a.id for a in applications(example)} == {mine.id, theirs.id}
    refused(lambda: applications(example, "department", "czj", unit="fgj"), grpc.StatusCode.PERMISSION_DENIED)
    # Appeals: czj's contests its own report; fgj sees none of it.
    assert [(a.id, a.unit, a.state) for a in appeals(example, "department", "czj")] == [
        ("AP1", "czj", "upheld")
    ]
    assert appeals(example, "department", "fgj") == []
    refused(lambda: appeals(example, "department", "fgj", unit="czj"), grpc.StatusCode.PERMISSION_DENIED)


def test_retries_with_the_same_request_id_file_and_decide_once(example: Stack) -> None:
    first = file(example, "fgj", "task", "T2", request_id="req-file-1")
    again = file(example, "fgj", "task", "T2", request_id="req-file-1")
    assert again == first
    assert len(applications(example)) == 1
    error = refused(lambda: file(example, "fgj", "task", "T2"), grpc.StatusCode.FAILED_PRECONDITION)
    assert first.id in (error.details() or "")
    decided = decide(example, first.id, "mitigate", request_id="req-decide-1")
    assert decide(example, first.id, "mitigate", request_id="req-decide-1") == decided
    assert len(decided.timeline) == 2
    refused(lambda: decide(example, first.id, "exempt"), grpc.StatusCode.FAILED_PRECONDITION)
    assert len([r for r in list_records(example, kind="tolerance") if r.id == first.id]) == 1


def test_applications_close_with_the_appeal_window_and_appeals_open_only_inside_it(example: Stack) -> None:
    at(example, "2026-01-05T10:00:00+08:00")
    appeal = {
        "id": "AP9",
        "target_type": "accountability",
        "target": "A2",
        "date": "2026-01-05",
        "reason": "已撤销",
    }
    error = refused(
        lambda: create_record(example, "appeal", appeal, role="department", unit="jyj"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "尚未公示" in (error.details() or "")
    early = file(example, "fgj", "task", "T2")  # no run publicised yet: applications are open
    run = create_run(example)
    published = publish(example, run.id)
    assert run_time(published, "appeal_deadline").startswith("2026-01-12")
    filed = create_record(example, "appeal", appeal, role="department", unit="jyj")
    assert filed.id == "AP9"
    inside = file(example, "sfj", "error_report", "E4")

    at(example, "2026-01-13T00:00:01+08:00")
    for call in (
        lambda: file(example, "czj", "task", "T5"),
        lambda: create_record(
            example, "appeal", {**appeal, "id": "AP10", "target": "A1"}, role="department", unit="czj"
        ),
    ):
        error = refused(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert "公示申诉期已于 2026-01-12 23:59:59 截止" in (error.details() or "")

    # Undecided appeals and pending applications hold 定档 back, each named.
    error = refused(lambda: finalize_now(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    for named in ("AP9", early.id, inside.id):
        assert named in (error.details() or "")
    scoring_stub(example).DecideAppeal(
        scoring_pb2.DecideAppealRequest(id="AP9", upheld=False, reason="处分有效"),
        metadata=example.metadata(),
        timeout=30,
    )
    decide(example, early.id, "refused", "不符合")
    error = refused(lambda: finalize_now(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert inside.id in (error.details() or "") and early.id not in (error.details() or "")
    decide(example, inside.id, "exempt")
    final = finalize_now(example, run.id)
    error = refused(lambda: file(example, "czj", "task", "T5"), grpc.StatusCode.FAILED_PRECONDITION)
    assert f"2025 年度考核已定档（{final.id}）" in (error.details() or "")

    (ap9,) = [a for a in appeals(example, year=2025) if a.id == "AP9"]
    assert (ap9.state, ap9.decision_reason) == ("rejected", "处分有效")
    assert [(e.event, e.actor_role, e.actor_unit, e.outcome) for e in ap9.timeline] == [
        ("filed", "department", "jyj", ""),
        ("decided", "office", "", "rejected"),
    ]
    assert ap9.timeline[0].at == "2026-01-05T10:00:00+08:00"


def test_a_decided_record_imported_again_is_unchanged(example: Stack) -> None:
    filed = file(example, "sfj", "task", "T8")
    decide(example, filed.id, "exempt", "返工系上级政策调整")
    (record,) = [r for r in list_records(example, kind="tolerance") if r.id == filed.id]
    line = {"type": "tolerance", **fields_of(record)}
    assert dict(import_records(example, [line]).unchanged) == {"tolerance": 1}
    error = refused(
        lambda: import_records(example, [{**line, "reason": "另一理由"}]), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [f for f, _ in violations(error)] == ["line 1: id"]

    # An appeal the office decided is the ledger's appeal line: imported again, it is unchanged.
    run = create_run(example)
    publish(example, run.id)
    appeal = {
        "id": "AP9",
        "target_type": "accountability",
        "target": "A2",
        "date": "2026-01-05",
        "reason": "已撤销",
    }
    create_record(example, "appeal", appeal, role="department", unit="jyj")
    scoring_stub(example).DecideAppeal(
        scoring_pb2.DecideAppealRequest(id="AP9", upheld=True, reason="处分决定已撤销"),
        metadata=example.metadata(),
        timeout=30,
    )
    assert dict(import_records(example, [{"type": "appeal", **appeal, "upheld": True}]).unchanged) == {
        "appeal": 1
    }
    (ap9,) = [a for a in appeals(example, "department", "jyj") if a.id == "AP9"]
    assert (ap9.state, ap9.decision_reason) == ("upheld", "处分决定已撤销")


def test_an_application_id_is_the_tolerance_records_and_is_not_taken_twice(example: Stack) -> None:
    error = refused(lambda: file(example, "sfj", "task", "T8", id="R3"), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in violations(error)] == ["id"]
    named = file(example, "sfj", "task", "T8", id="RC2025-A1")
    assert named.id == "RC2025-A1"
    refused(lambda: file(example, "fgj", "task", "T2", id="RC2025-A1"), grpc.StatusCode.INVALID_ARGUMENT)
    # A voided error report takes no application.
    scoring_stub(example).VoidRecord(
        scoring_pb2.VoidRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E4", reason="录入错误"),
        metadata=example.metadata(),
        timeout=30,
    )
    refused(lambda: file(example, "sfj", "error_report", "E4"), grpc.StatusCode.FAILED_PRECONDITION)


def test_a_decision_reason_kept_in_an_appeals_fields_moves_to_its_timeline(databases: Databases) -> None:
    db = Database(databases.url("scoring"))
    try:
        old = {
            "id": "AP1",
            "target_type": "error_report",
            "target": "E2",
            "date": "2025-05-08",
            "upheld": True,
            "reason": "可查",
            "decision_reason": "系统记录属实",
        }
        appeal_stored_at(db, "0006", old, updated_at=100, version=2)
        migrate(db, MIGRATIONS, service="scoring")
        with db.read() as conn:
            stored = conn.execute(select(records.c.payload).where(records.c.rid == "AP1")).scalar_one()
            (event,) = conn.execute(select(workflow_events)).all()
        assert "decision_reason" not in json.loads(stored)
        assert (event.subject_kind, event.subject_id, event.event, event.outcome, event.reason, event.at) == (
            "appeal",
            "AP1",
            "decided",
            "upheld",
            "系统记录属实",
            100,
        )
    finally:
        db.dispose()


def test_no_application_on_an_error_report_an_upheld_appeal_voided(example: Stack) -> None:
    """E2 was voided by the upheld appeal AP1 (申诉成立): there is no deduction left to tolerate."""
    error = refused(lambda: file(example, "czj", "error_report", "E2"), grpc.StatusCode.FAILED_PRECONDITION)
    assert "AP1" in (error.details() or "")
    assert [a for a in applications(example) if a.target == "E2"] == []
