"""Corrections the office makes: a voided record anew under its id; previews with empty categories."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2

from services.common.result_wire import result_to_json_dict
from tests.conftest import Stack

READING = {"unit": "czj", "metric": "livelihood_spending_share", "period": "2025"}


def _fields(values: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def _livelihood(stack: Stack) -> float:
    _, _, scoring = stack.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60
    ).run
    czj = next(u for u in result_to_json_dict(run.result)["units"] if u["unit"] == "czj")
    metric = next(m for m in czj["breakdown"]["metrics"] if m["metric"] == "livelihood_spending_share")
    return float(metric["value"])


def test_a_voided_reading_is_recorded_anew_under_its_id(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    _, _, scoring = stack.stubs()
    assert _livelihood(stack) == pytest.approx(0.72)
    with pytest.raises(grpc.RpcError) as changed:
        scoring.CreateRecord(
            scoring_pb2.CreateRecordRequest(
                kind=scoring_pb2.RECORD_KIND_METRIC_READING,
                fields=_fields(READING | {"numerator": 40.0, "denominator": 50.0}),
            ),
            metadata=stack.metadata(),
            timeout=10,
        )
    assert changed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    scoring.VoidRecord(
        scoring_pb2.VoidRecordRequest(
            kind=scoring_pb2.RECORD_KIND_METRIC_READING,
            id="czj/livelihood_spending_share/2025",
            reason="录入错误",
        ),
        metadata=stack.metadata(),
        timeout=10,
    )
    record = scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(
            kind=scoring_pb2.RECORD_KIND_METRIC_READING,
            fields=_fields(READING | {"numerator": 40.0, "denominator": 50.0}),
        ),
        metadata=stack.metadata(),
        timeout=10,
    ).record
    assert not record.voided
    assert _livelihood(stack) == pytest.approx(0.8)
    listed = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(kind=scoring_pb2.RECORD_KIND_METRIC_READING, unit="czj"),
        metadata=stack.metadata(),
        timeout=10,
    )
    assert [
        r.fields["numerator"] for r in listed.records if r.id.endswith("livelihood_spending_share/2025")
    ] == [40]


def test_the_overview_answers_before_every_category_has_units(stack: Stack) -> None:
    # The example scheme's research metric applies to townships; none is recorded yet.
    stack.import_ledger(
        b'{"type":"unit","id":"fgj","name":"\xe5\x8f\x91\xe6\x94\xb9\xe5\xb1\x80","category":"department"}\n'
    )
    gateway, _, scoring = stack.stubs()
    # The overview of a year named with nothing in it is refused like a run of it (issue 17) ...
    with pytest.raises(grpc.RpcError) as nothing:
        gateway.GetOverview(gateway_pb2.GetOverviewRequest(year=2025), metadata=stack.metadata(), timeout=30)
    assert nothing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2025" in (nothing.value.details() or "")
    with pytest.raises(grpc.RpcError) as empty:
        scoring.CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=30)
    # A year with nothing to assess is named as such first (FORMATS.md), whatever else the scheme lacks.
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2025 年度没有可考核的内容" in (empty.value.details() or "")
    stack.import_ledger(
        b'{"type":"metric_reading","unit":"fgj","metric":"court_appearance_rate","period":"2025",'
        b'"numerator":1,"denominator":1}\n'
    )
    # ... and answers once the year holds something, before every category has units.
    overview = gateway.GetOverview(
        gateway_pb2.GetOverviewRequest(year=2025), metadata=stack.metadata(), timeout=30
    )
    assert [u.unit for u in overview.units] == ["fgj"]
    with pytest.raises(grpc.RpcError) as refused:
        scoring.CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=30)
    # A scheme may name the township category before any township is recorded, but not a unit that
    # does not exist: the livelihood metric applies to czj.
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "“czj”" in (refused.value.details() or "") and "township" not in (refused.value.details() or "")
    stack.import_ledger('{"type":"unit","id":"czj","name":"财政局","category":"department"}\n'.encode())
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=30
    ).run
    assert sorted(u["unit"] for u in result_to_json_dict(run.result)["units"]) == ["czj", "fgj"]


def test_a_cutoff_given_as_a_date_is_the_end_of_that_day(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    _, _, scoring = stack.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025, as_of="2025-06-30"), metadata=stack.metadata(), timeout=60
    ).run
    document = result_to_json_dict(run.result)
    assert document["as_of"] == "2025-06-30T23:59:59+08:00"
    fgj = next(u for u in document["units"] if u["unit"] == "fgj")
    # By the end of June only T1, T3 and T4 had fallen due; T2 (due 10-13) is not yet counted.
    assert {t["task"] for t in fgj["breakdown"]["tasks"]} == {"T1", "T3", "T4"}
    assert run.id == "2025-001"
