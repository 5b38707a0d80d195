"""Units' own targets, appeals of accountability records and the run guards, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import grpc
import pytest
from alembic import command
from alembic.config import Config
from google.protobuf import json_format
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from sqlalchemy import select

from services.common.auth import make_user_identity
from services.common.db import Database, migrate
from services.common.scheme import Scheme
from services.scoring.__main__ import MIGRATIONS
from services.scoring.records import parse_record
from services.scoring.storage.tables import records
from tests.conftest import Databases, Stack, internal_metadata, run_state, run_time
from tests.integration.test_records import create_record, kind_of, list_records, refused, violations
from tests.integration.test_runs import (
    create_run,
    finalize,
    finalize_now,
    publish,
    scoring_stub,
    units_of,
)

SFJ_RATE = {"type": "target", "unit": "sfj", "metric": "court_appearance_rate", "year": 2025, "target": 0.8}
SFJ_DAYS = {
    "type": "target",
    "unit": "sfj",
    "metric": "field_research_days",
    "year": 2025,
    "target": 40,
    "floor": 20,
}


def import_records(stack: Stack, lines: list[dict[str, Any]]) -> Any:
    """Records straight into the scoring service, as the gateway forwards a ledger's record lines."""
    scoring = scoring_pb2_grpc.ScoringInternalServiceStub(stack.channel(stack.scoring_addr))
    office = make_user_identity(role="office", unit=None)
    messages = [
        scoring_pb2.ImportRecordsRequest(),
        scoring_pb2.ImportRecordsRequest(
            lines=[
                common_pb2.LedgerLine(line=n, json=json.dumps(r, ensure_ascii=False))
                for n, r in enumerate(lines, start=1)
            ]
        ),
    ]
    return scoring.ImportRecords(
        iter(messages),
        metadata=internal_metadata(
            office, "/kaohe.scoring.v1.ScoringInternalService/ImportRecords", messages
        ),
        timeout=30,
    )


def metric(entry: dict[str, Any], metric_id: str) -> dict[str, Any]:
    line: dict[str, Any] = next(m for m in entry["breakdown"]["metrics"] if m["metric"] == metric_id)
    return line


def test_target_records_are_stored_once_and_a_changed_one_is_refused_naming_its_line(example: Stack) -> None:
    first = import_records(example, [SFJ_RATE, SFJ_DAYS])
    assert dict(first.created) == {"target": 2}
    again = import_records(example, [SFJ_RATE, SFJ_DAYS])
    assert (dict(again.created), dict(again.unchanged)) == ({}, {"target": 2})
    error = refused(
        lambda: import_records(example, [SFJ_RATE, {**SFJ_DAYS, "target": 45}]),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert [f for f, _ in violations(error)] == ["line 2: id"]
    for bad, field in (
        ({**SFJ_RATE, "metric": "nosuch"}, "line 1: metric"),
        ({**SFJ_RATE, "unit": "nosuch"}, "line 1: unit"),
        ({**SFJ_DAYS, "floor": 50}, "line 1: floor"),
    ):
        error = refused(lambda bad=bad: import_records(example, [bad]), grpc.StatusCode.INVALID_ARGUMENT)  # type: ignore[misc]
        assert [f for f, _ in violations(error)] == [field]
    stored = list_records(example, kind="target")
    assert sorted((r.id, r.unit) for r in stored) == [
        ("sfj/court_appearance_rate/2025", "sfj"),
        ("sfj/field_research_days/2025", "sfj"),
    ]
    assert json_format.MessageToDict(stored[0].fields)["year"] == 2025


def test_the_office_records_a_target_one_by_one_and_a_department_may_not(example: Stack) -> None:
    fields = {k: v for k, v in SFJ_DAYS.items() if k != "type"}
    made = create_record(example, "target", fields)
    assert (kind_of(made), made.id, made.unit) == ("target", "sfj/field_research_days/2025", "sfj")
    assert create_record(example, "target", fields).etag == made.etag
    refused(
        lambda: create_record(example, "target", {**fields, "target": 45}), grpc.StatusCode.INVALID_ARGUMENT
    )
    refused(
        lambda: create_record(example, "target", {**fields, "year": 2026}, role="department", unit="sfj"),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_a_units_own_target_scores_it_and_shows_in_its_breakdown(example: Stack) -> None:
    before = units_of(create_run(example))
    import_records(example, [SFJ_RATE, SFJ_DAYS])
    after = units_of(create_run(example))
    rate, days = metric(after["sfj"], "court_appearance_rate"), metric(after["sfj"], "field_research_days")
    old_rate = metric(before["sfj"], "court_appearance_rate")
    assert (old_rate["status"], old_rate["earned"], old_rate["target"], old_rate["target_source"]) == (
        "below",
        0,
        1.0,
        "scheme",
    )
    assert (rate["value"], rate["status"], rate["target"], rate["target_source"]) == (
        0.8,
        "met",
        0.8,
        "target_record",
    )
    assert rate["earned"] == rate["max"] > 0
    # sfj's 25 days against its own floor 20 and target 40: a quarter of the points.
    assert (days["target"], days["floor"], days["target_source"]) == (40, 20, "target_record")
    assert days["earned"] == pytest.approx(0.25 * days["max"])
    assert after["sfj"]["total"] > before["sfj"]["total"]
    # Nobody else's target changed.
    for unit in ("fgj", "czj", "jyj", "cgz", "mxz"):
        assert after[unit]["breakdown"]["metrics"] == before[unit]["breakdown"]["metrics"]

    scoring_stub(example).VoidRecord(
        scoring_pb2.VoidRecordRequest(
            kind=scoring_pb2.RECORD_KIND_TARGET, id="sfj/court_appearance_rate/2025", reason="录入错误"
        ),
        metadata=example.metadata(),
        timeout=30,
    )
    voided = metric(units_of(create_run(example))["sfj"], "court_appearance_rate")
    assert (voided["status"], voided["target"], voided["target_source"]) == ("below", 1.0, "scheme")


def test_prometheus_holds_each_unit_to_its_own_target(example: Stack) -> None:
    """The alerts' target series: sfj's own 0.8 (目标责任书) where it has one, the scheme's 1.0 elsewhere."""
    import_records(example, [SFJ_RATE])
    families = {f.name: f for f in example.parts["scoring"].registry.collect()}
    held = {
        (s.labels["unit"], s.labels["metric"]): (s.value, s.labels["source"], s.labels["direction"])
        for s in families["kaohe_indicator_unit_target"].samples
    }
    assert held[("sfj", "court_appearance_rate")] == (0.8, "target_record", "min")
    assert held[("fgj", "court_appearance_rate")] == (1.0, "scheme", "min")
    annual = {
        (s.labels["unit"], s.labels["metric"]): s.value
        for s in families["kaohe_indicator_unit_annual_target"].samples
    }
    assert annual[("sfj", "court_appearance_rate")] == 0.8
    # Every unit value has the target it is held to, so the alert rules can join on (unit, metric).
    values = {(s.labels["unit"], s.labels["metric"]) for s in families["kaohe_indicator_value"].samples}
    assert values and values == set(held) == set(annual)


def test_the_overview_compares_each_unit_with_its_own_target(example: Stack) -> None:
    import_records(example, [SFJ_RATE])
    gateway, _, _ = example.stubs()
    overview = gateway.GetOverview(
        gateway_pb2.GetOverviewRequest(year=2025), metadata=example.metadata(), timeout=30
    )
    rates = {
        u.unit: next(i for i in u.indicators if i.metric == "court_appearance_rate") for u in overview.units
    }
    assert (rates["sfj"].target, rates["sfj"].target_source, rates["sfj"].status) == (
        0.8,
        gateway_pb2.TARGET_SOURCE_TARGET_RECORD,
        gateway_pb2.INDICATOR_STATUS_MET,
    )
    assert (rates["fgj"].target, rates["fgj"].target_source) == (1.0, gateway_pb2.TARGET_SOURCE_SCHEME)


def test_an_upheld_appeal_of_an_accountability_record_voids_its_deduction_and_veto(example: Stack) -> None:
    run = create_run(example)
    jyj = units_of(run)["jyj"]
    assert (jyj["veto"], jyj["accountability_deduction"], jyj["grade"]) == (True, 5, "poor")
    publish(example, run.id)
    appeal = {
        "id": "AP9",
        "target_type": "accountability",
        "target": "A2",
        "date": "2026-01-05",
        "reason": "已撤销",
    }
    refused(
        lambda: create_record(example, "appeal", appeal, role="department", unit="czj"),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    refused(
        lambda: create_record(example, "appeal", {**appeal, "target": "A404"}, role="department", unit="jyj"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    filed = create_record(example, "appeal", appeal, role="department", unit="jyj")
    assert (kind_of(filed), filed.id, filed.unit) == ("appeal", "AP9", "jyj")
    # Undecided, it holds the year's run back even once the window has closed.
    error = refused(lambda: finalize(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "AP9" in (error.details() or "")

    scoring_stub(example).DecideAppeal(
        scoring_pb2.DecideAppealRequest(id="AP9", upheld=True, reason="处分决定已撤销"),
        metadata=example.metadata(),
        timeout=30,
    )
    corrected = units_of(create_run(example, supersedes=run.id))["jyj"]
    assert (corrected["veto"], corrected["accountability_deduction"]) == (False, 0)
    assert corrected["breakdown"]["accountability"] == [
        {
            "id": "A2",
            "date": "2025-09-10",
            "kind": "disciplinary",
            "voided": True,
            "veto": False,
            "points": 0.0,
        }
    ]


def test_an_appeal_in_the_older_form_is_the_same_appeal(example: Stack, example_ledger: bytes) -> None:
    (stored,) = list_records(example, kind="appeal")
    fields = json_format.MessageToDict(stored.fields)
    assert (fields["target_type"], fields["target"], "error_report" in fields) == (
        "error_report",
        "E2",
        False,
    )
    again = example.import_ledger(example_ledger)
    assert sum(again.created.values()) == 0 and again.unchanged["appeal"] == 1
    newer = {"type": "appeal", "id": "AP1", "target": "E2", "date": "2025-05-08", "upheld": True}
    newer["reason"] = fields["reason"]
    assert dict(import_records(example, [newer]).unchanged) == {"appeal": 1}


def test_finalising_waits_until_the_appeal_window_has_closed(example: Stack) -> None:
    app = example.parts["scoring"].app
    # The year's run, published on Thursday 2026-02-12: five working days of the scheme's calendar count
    # Saturday 02-14, a make-up working day, and skip the Spring Festival holidays (02-15..02-23).
    # (A run made before the year's end is interim and never finalised, SCORING.md §9.)
    app.clock = lambda: int(datetime.fromisoformat("2026-02-12T10:00:00+08:00").timestamp())
    run = create_run(example)
    published = publish(example, run.id)
    assert run_time(published, "appeal_deadline") == "2026-02-26T23:59:59+08:00"
    error = refused(lambda: finalize_now(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "公示申诉期" in (error.details() or "") and "2026-02-26" in (error.details() or "")
    deadline = published.appeal_deadline.seconds
    app.clock = lambda: deadline  # its last second is still inside it
    refused(lambda: finalize_now(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    app.clock = lambda: deadline + 1
    final = finalize_now(example, run.id)
    assert (run_state(final), run_time(final, "finalized_at")) == ("final", "2026-02-27T00:00:00+08:00")


def test_a_run_of_a_year_with_nothing_to_assess_is_refused_naming_the_year(example: Stack) -> None:
    error = refused(lambda: create_run(example, year=2023), grpc.StatusCode.INVALID_ARGUMENT)
    assert "2023" in (error.details() or "")
    # 2024 holds one reading (mxz's) and nothing else: that is something to assess.
    assert create_run(example, year=2024).year == 2024


def appeal_stored_at(
    db: Database, revision: str, payload: dict[str, Any], *, updated_at: int, version: int
) -> None:
    """czj's appeal AP1 with payload, stored by a scoring database migrated only as far as revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    with db.write() as conn:
        conn.execute(
            records.insert().values(
                kind="appeal",
                rid="AP1",
                unit="czj",
                year=2025,
                payload=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                voided=False,
                void_reason="",
                created_at=0,
                updated_at=updated_at,
                version=version,
            )
        )


def test_appeals_stored_before_the_appeal_targets_revision_are_rewritten(databases: Databases) -> None:
    db = Database(databases.url("scoring"))
    try:
        old = {"id": "AP1", "error_report": "E2", "date": "2025-05-08", "upheld": True, "reason": "可查"}
        appeal_stored_at(db, "0001", old, updated_at=0, version=1)
        migrate(db, MIGRATIONS, service="scoring")
        with db.read() as conn:
            stored = conn.execute(select(records.c.payload).where(records.c.rid == "AP1")).scalar_one()
        assert json.loads(stored) == {
            "id": "AP1",
            "target_type": "error_report",
            "target": "E2",
            "date": "2025-05-08",
            "upheld": True,
            "reason": "可查",
        }
    finally:
        db.dispose()


def test_the_older_appeal_form_parses_to_what_the_revision_stores(example_scheme: Scheme) -> None:
    line = {"id": "AP1", "error_report": "E2", "date": "2025-05-08", "upheld": True, "reason": "可查"}
    parsed = parse_record("appeal", line, example_scheme)
    assert json.loads(parsed.canonical()) == {
        "id": "AP1",
        "target_type": "error_report",
        "target": "E2",
        "date": "2025-05-08",
        "upheld": True,
        "reason": "可查",
    }
