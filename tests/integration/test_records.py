"""Assessment records through the gateway: each kind, filters, voiding, validation, idempotent import."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli.main import parser
from services.common.protoenum import enum_code
from services.common.result_wire import result_to_json_dict
from services.common.wire_json import lenient_number
from tests.conftest import Stack

BASE: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
    {
        "type": "task",
        "id": "T1",
        "title": "落实批示",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-04-28T10:00:00+08:00",
    },
    {"type": "task_event", "task": "T1", "kind": "report", "at": "2025-05-12T18:00:00+08:00"},
    {
        "type": "task",
        "id": "T2",
        "title": "会议事项",
        "task_type": "meeting_decision",
        "lead_unit": "czj",
        "co_units": ["cgz"],
        "assigned_at": "2025-09-26T09:00:00+08:00",
    },
]

# One valid record of every kind, as the office files them one by one.
EACH_KIND: list[tuple[str, dict[str, Any]]] = [
    (
        "error_report",
        {
            "id": "E1",
            "unit": "fgj",
            "date": "2025-04-01",
            "category": "drafting",
            "severity": "general",
            "description": "报送材料数据口径不一致",
        },
    ),
    (
        "metric_reading",
        {
            "unit": "fgj",
            "metric": "court_appearance_rate",
            "period": "2025-06",
            "numerator": 2,
            "denominator": 2,
        },
    ),
    ("metric_reading", {"unit": "fgj", "metric": "field_research_days", "period": "2025-03", "value": 20}),
    (
        "incentive",
        {"id": "I1", "unit": "fgj", "date": "2025-09-01", "level": "provincial", "reason": "省级表彰"},
    ),
    (
        "tolerance",
        {
            "id": "R1",
            "unit": "cgz",
            "target_type": "task",
            "target": "T2",
            "decision": "mitigate",
            "date": "2025-10-20",
            "reason": "上级政策调整",
        },
    ),
    (
        "accountability",
        {"id": "A1", "unit": "czj", "date": "2025-11-20", "kind": "interview", "reason": "工作约谈"},
    ),
    (
        "appeal",
        {"id": "AP1", "error_report": "E1", "date": "2025-04-08", "upheld": False, "reason": "口径已说明"},
    ),
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def struct(fields: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(fields)
    return message


def kind_number(code: str) -> Any:
    """A record kind's code as the enum; an unknown word as unspecified, which the service refuses."""
    return lenient_number(scoring_pb2.RecordKind.DESCRIPTOR, code)


def kind_of(record: Any) -> str:
    """A record's kind as its code."""
    return enum_code(scoring_pb2.RecordKind.DESCRIPTOR, record.kind)


def create_record(
    stack: Stack, kind: str, fields: dict[str, Any], *, role: str = "office", unit: str | None = None
) -> Any:
    _, _, scoring = stack.stubs()
    return scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(kind=kind_number(kind), fields=struct(fields)),
        metadata=stack.metadata(role, unit),
        timeout=30,
    ).record


def list_records(stack: Stack, **filters: Any) -> list[Any]:
    _, _, scoring = stack.stubs()
    if "kind" in filters:
        filters["kind"] = kind_number(filters["kind"])
    return list(
        scoring.ListRecords(
            scoring_pb2.ListRecordsRequest(page_size=1000, **filters), metadata=stack.metadata(), timeout=30
        ).records
    )


def violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations a refusal carries."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"the refusal carries no google.rpc.Status details: {error.details()}"
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    assert found, f"the refusal carries no BadRequest field violation: {error.details()}"
    return found


def refused(call: Any, code: grpc.StatusCode) -> grpc.RpcError:
    """The error a call is refused with, checked to carry code."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


def fields_of(record: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(record.fields))


@pytest.fixture
def loaded(stack: Stack) -> Stack:
    stack.import_ledger(jsonl(BASE))
    return stack


@pytest.fixture(scope="module")
def loaded_with_e1(module_stack: Stack) -> Stack:
    """loaded with E1 of fgj (what the tolerance and appeal cases refer to), once for the module's
    refused records: each checks that the records are as they were."""
    module_stack.import_ledger(jsonl(BASE))
    create_record(module_stack, *EACH_KIND[0])
    return module_stack


def test_office_creates_a_record_of_each_kind(loaded: Stack) -> None:
    made = [create_record(loaded, kind, fields) for kind, fields in EACH_KIND]
    assert [(kind_of(r), r.id, r.unit) for r in made] == [
        ("error_report", "E1", "fgj"),
        ("metric_reading", "fgj/court_appearance_rate/2025-06", "fgj"),
        ("metric_reading", "fgj/field_research_days/2025-03", "fgj"),
        ("incentive", "I1", "fgj"),
        ("tolerance", "R1", "cgz"),
        ("accountability", "A1", "czj"),
        ("appeal", "AP1", "fgj"),  # an appeal belongs to the unit of the report it contests
    ]
    assert fields_of(made[0])["severity"] == "general"
    assert fields_of(made[1])["numerator"] == 2 and fields_of(made[1])["denominator"] == 2
    assert fields_of(made[6])["upheld"] is False
    assert all(not r.voided and r.etag for r in made)
    stored = {(kind_of(r), r.id): fields_of(r) for r in list_records(loaded)}
    assert stored == {(kind_of(r), r.id): fields_of(r) for r in made}


def test_the_same_record_twice_is_stored_once_and_a_changed_one_refused(loaded: Stack) -> None:
    kind, fields = EACH_KIND[3]
    first = create_record(loaded, kind, fields)
    again = create_record(loaded, kind, fields)
    assert (again.id, again.etag, fields_of(again)) == (first.id, first.etag, fields_of(first))
    error = refused(
        lambda: create_record(loaded, kind, {**fields, "level": "national"}), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [f for f, _ in violations(error)] == ["id"]
    assert [fields_of(r)["level"] for r in list_records(loaded, kind="incentive")] == ["provincial"]


def test_list_records_filters(loaded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    for kind, fields in EACH_KIND:
        create_record(loaded, kind, fields)
    create_record(
        loaded,
        "error_report",
        {
            "id": "E9",
            "unit": "czj",
            "date": "2024-12-30",
            "category": "other",
            "severity": "serious",
            "description": "上年度差错",
        },
    )
    create_record(
        loaded,
        "error_report",
        {
            "id": "E10",
            "unit": "czj",
            "date": "2025-03-01",
            "category": "other",
            "severity": "general",
            "description": "将被撤销",
        },
    )
    _, _, scoring = loaded.stubs()
    scoring.VoidRecord(
        scoring_pb2.VoidRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E10", reason="录入错误"),
        metadata=loaded.metadata(),
        timeout=30,
    )

    def ids(**filters: Any) -> set[str]:
        return {r.id for r in list_records(loaded, **filters)}

    assert ids(kind="error_report") == {"E1", "E9"}
    assert ids(kind="error_report", include_voided=True) == {"E1", "E9", "E10"}
    assert ids(kind="error_report", year=2025) == {"E1"}
    assert ids(unit="czj") == {"E9", "A1"}
    assert ids(unit="czj", year=2025, include_voided=True) == {"A1", "E10"}
    assert ids(kind="metric_reading", unit="fgj") == {
        "fgj/court_appearance_rate/2025-06",
        "fgj/field_research_days/2025-03",
    }
    assert ids(kind="appeal", unit="fgj") == {"AP1"}
    assert ids(unit="cgz") == {"R1"}
    voided = [r for r in list_records(loaded, include_voided=True) if r.id == "E10"]
    assert [(r.voided, r.void_reason) for r in voided] == [(True, "录入错误")]

    # Pages of two add up to the whole list, each record once.
    seen, token = [], ""
    while True:
        page = scoring.ListRecords(
            scoring_pb2.ListRecordsRequest(page_size=2, page_token=token),
            metadata=loaded.metadata(),
            timeout=30,
        )
        assert len(page.records) <= 2
        seen += [(kind_of(r), r.id) for r in page.records]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted((kind_of(r), r.id) for r in list_records(loaded))
    # An unknown kind never reaches the service: the command line refuses it, naming the field.
    with pytest.raises(SystemExit) as usage:
        parser().parse_args(["records", "list", "--kind", "gossip"])
    assert usage.value.code == 2
    assert "不是记录类别" in capsys.readouterr().err


def test_a_department_lists_its_own_records_only(loaded: Stack) -> None:
    for kind, fields in EACH_KIND:
        create_record(loaded, kind, fields)
    _, _, scoring = loaded.stubs()
    own = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(), metadata=loaded.metadata("department", "czj"), timeout=30
    ).records
    assert {(kind_of(r), r.id) for r in own} == {("accountability", "A1")}
    refused(
        lambda: scoring.ListRecords(
            scoring_pb2.ListRecordsRequest(unit="fgj"),
            metadata=loaded.metadata("department", "czj"),
            timeout=30,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_a_department_may_not_file_other_records(loaded: Stack) -> None:
    kind, fields = EACH_KIND[0]
    refused(
        lambda: create_record(loaded, kind, fields, role="department", unit="fgj"),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    refused(lambda: create_record(loaded, kind, fields, role="supervisor"), grpc.StatusCode.PERMISSION_DENIED)
    assert list_records(loaded, include_voided=True) == []


def run_totals(stack: Stack) -> dict[str, dict[str, Any]]:
    _, _, scoring = stack.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60
    ).run
    return {u["unit"]: u for u in result_to_json_dict(run.result)["units"]}


def test_a_voided_error_report_no_longer_deducts(loaded: Stack) -> None:
    create_record(
        loaded,
        "error_report",
        {
            "id": "E1",
            "unit": "fgj",
            "date": "2025-04-01",
            "category": "drafting",
            "severity": "serious",
            "description": "差错",
        },
    )
    before = run_totals(loaded)["fgj"]
    assert before["error_deduction"] == pytest.approx(1.0)
    assert [e["id"] for e in before["breakdown"]["errors"]] == ["E1"]
    _, _, scoring = loaded.stubs()
    refused(
        lambda: (
            scoring.VoidRecord(
                scoring_pb2.VoidRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E1", reason=" "),
                metadata=loaded.metadata(),
                timeout=30,
            ).record
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    refused(
        lambda: (
            scoring.VoidRecord(
                scoring_pb2.VoidRecordRequest(
                    kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E404", reason="无"
                ),
                metadata=loaded.metadata(),
                timeout=30,
            ).record
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    refused(
        lambda: (
            scoring.VoidRecord(
                scoring_pb2.VoidRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E1", reason="x"),
                metadata=loaded.metadata("department", "fgj"),
                timeout=30,
            ).record
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    voided = scoring.VoidRecord(
        scoring_pb2.VoidRecordRequest(
            kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, id="E1", reason="通报有误，撤销"
        ),
        metadata=loaded.metadata(),
        timeout=30,
    ).record
    assert (voided.voided, voided.void_reason) == (True, "通报有误，撤销")
    after = run_totals(loaded)["fgj"]
    assert after["error_deduction"] == 0
    assert all(e["points"] == 0 for e in after["breakdown"]["errors"])
    assert after["total"] == pytest.approx(before["total"] + 1.0, abs=0.011)


ER = {
    "id": "E7",
    "unit": "fgj",
    "date": "2025-04-01",
    "category": "drafting",
    "severity": "general",
    "description": "差错",
}
RATIO = {"unit": "fgj", "metric": "court_appearance_rate", "period": "2025", "numerator": 1, "denominator": 2}
VALUE = {"unit": "fgj", "metric": "field_research_days", "period": "2025", "value": 12}
INCENTIVE = {"id": "I7", "unit": "fgj", "date": "2025-09-01", "level": "county", "reason": "表彰"}
ACCOUNTABILITY = {"id": "A7", "unit": "fgj", "date": "2025-09-01", "kind": "interview", "reason": "约谈"}
TOLERANCE = {
    "id": "R7",
    "unit": "fgj",
    "target_type": "task",
    "target": "T1",
    "decision": "exempt",
    "date": "2025-09-01",
    "reason": "容错",
}

# case: (kind, fields, the field the refusal must name)
INVALID: dict[str, tuple[str, dict[str, Any], str]] = {
    "unknown_record_kind": ("gossip", ER, "kind"),
    "unknown_unit": ("error_report", {**ER, "unit": "nobody"}, "unit"),
    "unknown_unit_of_reading": ("metric_reading", {**VALUE, "unit": "nobody"}, "unit"),
    "unknown_metric": ("metric_reading", {**VALUE, "metric": "happiness"}, "metric"),
    "unknown_severity": ("error_report", {**ER, "severity": "catastrophic"}, "severity"),
    "unknown_error_category": ("error_report", {**ER, "category": "gossip"}, "category"),
    "unknown_level": ("incentive", {**INCENTIVE, "level": "galactic"}, "level"),
    "unknown_accountability_kind": ("accountability", {**ACCOUNTABILITY, "kind": "exile"}, "kind"),
    "unknown_decision": ("tolerance", {**TOLERANCE, "decision": "forgive"}, "decision"),
    "negative_value": ("metric_reading", {**VALUE, "value": -1}, "value"),
    "huge_negative_value": ("metric_reading", {**VALUE, "value": -1e308}, "value"),
    "value_as_string": ("metric_reading", {**VALUE, "value": "12"}, "value"),
    "negative_numerator": ("metric_reading", {**RATIO, "numerator": -1}, "numerator"),
    "huge_negative_denominator": ("metric_reading", {**RATIO, "denominator": -1e308}, "denominator"),
    "denominator_as_string": ("metric_reading", {**RATIO, "denominator": "2"}, "denominator"),
    "numerator_over_denominator": (
        "metric_reading",
        {**RATIO, "numerator": 3, "denominator": 2},
        "numerator",
    ),
    "value_for_a_ratio": (
        "metric_reading",
        {"unit": "fgj", "metric": "court_appearance_rate", "period": "2025", "value": 1},
        "value",
    ),
    "ratio_for_a_value": ("metric_reading", {**VALUE, "numerator": 1, "denominator": 2}, "numerator"),
    "date_too_early": ("error_report", {**ER, "date": "1899-12-31"}, "date"),
    "date_too_late": ("incentive", {**INCENTIVE, "date": "2999-01-01"}, "date"),
    "date_not_a_date": ("accountability", {**ACCOUNTABILITY, "date": "2025-02-30"}, "date"),
    "period_too_early": ("metric_reading", {**VALUE, "period": "1066"}, "period"),
    "period_too_late": ("metric_reading", {**VALUE, "period": "9999-01"}, "period"),
    "tolerance_on_a_task_of_another_unit": ("tolerance", {**TOLERANCE, "target": "T2"}, "target"),
    "tolerance_on_an_unknown_task": ("tolerance", {**TOLERANCE, "target": "T404"}, "target"),
    "tolerance_on_a_report_of_another_unit": (
        "tolerance",
        {**TOLERANCE, "unit": "czj", "target_type": "error_report", "target": "E1"},
        "target",
    ),
    "unknown_field": ("incentive", {**INCENTIVE, "colour": "red"}, "colour"),
    "missing_field": ("error_report", {k: v for k, v in ER.items() if k != "severity"}, "severity"),
    "appeal_of_an_unknown_report": (
        "appeal",
        {"id": "AP7", "error_report": "E404", "date": "2025-05-01", "reason": "无此通报"},
        "error_report",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_record_is_refused_naming_the_field(loaded_with_e1: Stack, case: str) -> None:
    before = list_records(loaded_with_e1, include_voided=True)
    kind, fields, field = INVALID[case]
    error = refused(lambda: create_record(loaded_with_e1, kind, fields), grpc.StatusCode.INVALID_ARGUMENT)
    found = violations(error)
    assert [f for f, _ in found] == [field], found
    assert all(description for _, description in found)
    assert list_records(loaded_with_e1, include_voided=True) == before


SCORING_LINES: list[dict[str, Any]] = [
    {
        "type": "error_report",
        "id": "E1",
        "unit": "fgj",
        "date": "2025-04-01",
        "category": "drafting",
        "severity": "general",
        "description": "报送材料数据口径不一致",
    },
    {
        "type": "metric_reading",
        "unit": "fgj",
        "metric": "court_appearance_rate",
        "period": "2025",
        "numerator": 2,
        "denominator": 2,
    },
    {
        "type": "incentive",
        "id": "I1",
        "unit": "fgj",
        "date": "2025-09-01",
        "level": "provincial",
        "reason": "表彰",
    },
    {
        "type": "tolerance",
        "id": "R1",
        "unit": "fgj",
        "target_type": "error_report",
        "target": "E1",
        "decision": "mitigate",
        "date": "2025-04-20",
        "reason": "容错",
    },
    {
        "type": "accountability",
        "id": "A1",
        "unit": "czj",
        "date": "2025-11-20",
        "kind": "interview",
        "reason": "约谈",
    },
    {
        "type": "appeal",
        "id": "AP1",
        "error_report": "E1",
        "date": "2025-04-08",
        "upheld": False,
        "reason": "申诉",
    },
]


def test_ledger_import_of_records_is_idempotent_and_refuses_changes(loaded: Stack) -> None:
    first = loaded.import_ledger(jsonl(SCORING_LINES))
    assert dict(first.created) == {
        "error_report": 1,
        "metric_reading": 1,
        "incentive": 1,
        "tolerance": 1,
        "accountability": 1,
        "appeal": 1,
    }
    second = loaded.import_ledger(jsonl(BASE + SCORING_LINES))
    assert sum(second.created.values()) == 0
    assert dict(second.unchanged) == {"unit": 3, "task": 2, "task_event": 1, **dict(first.created)}
    stored = sorted((kind_of(r), r.id, r.etag) for r in list_records(loaded, include_voided=True))
    assert len(stored) == 6

    fresh = {
        "type": "incentive",
        "id": "I2",
        "unit": "czj",
        "date": "2025-10-01",
        "level": "county",
        "reason": "新的",
    }
    changed = {**SCORING_LINES[0], "severity": "grave"}
    error = refused(lambda: loaded.import_ledger(jsonl([fresh, changed])), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in violations(error)] == ["line 2: id"]
    changed_reading = {**SCORING_LINES[1], "numerator": 1}
    error = refused(
        lambda: loaded.import_ledger(jsonl([fresh, changed_reading])), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [f for f, _ in violations(error)] == ["line 2: id"]
    assert sorted((kind_of(r), r.id, r.etag) for r in list_records(loaded, include_voided=True)) == stored


def test_a_bad_record_line_refuses_the_whole_file(loaded: Stack) -> None:
    new_unit = {"type": "unit", "id": "sfj", "name": "司法局", "category": "department"}
    good = {
        "type": "incentive",
        "id": "I5",
        "unit": "sfj",
        "date": "2025-10-01",
        "level": "county",
        "reason": "好",
    }
    bad = {
        "type": "metric_reading",
        "unit": "sfj",
        "metric": "court_appearance_rate",
        "period": "2025",
        "numerator": 5,
        "denominator": 4,
    }
    error = refused(
        lambda: loaded.import_ledger(jsonl([new_unit, good, bad])), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [f for f, _ in violations(error)] == ["line 3: numerator"]
    assert list_records(loaded, include_voided=True) == []
    _, tasks, _ = loaded.stubs()
    units = tasks.ListUnits(
        tasks_pb2.ListUnitsRequest(page_size=100), metadata=loaded.metadata(), timeout=10
    ).units
    assert "sfj" not in {u.id for u in units}
