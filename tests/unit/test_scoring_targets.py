"""Units' own targets (目标责任书) and appeals of accountability records, in the kernel and the records."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

import numpy as np
import pytest

from services.common.errors import InvalidArgument
from services.common.scheme import Scheme
from services.scoring.columns import AccountabilityRows, Inputs, TargetRows
from services.scoring.domain import score
from services.scoring.inputs import build_inputs
from services.scoring.records import check_references, parse_record, referenced

from .scoring_builders import LedgerBuilder, base_scheme_doc, scheme_from

RATE = {"id": "rate", "name": "率", "kind": "ratio", "rule": "threshold", "target": 0.9, "points": 20}
DAYS = {
    "id": "days",
    "name": "调研天数",
    "kind": "value",
    "aggregate": "sum",
    "rule": "linear",
    "target": 60,
    "floor": 30,
    "points": 10,
}
SHARE = {
    "id": "share",
    "name": "占比",
    "kind": "ratio",
    "rule": "proportional",
    "target": 0.5,
    "points": 10,
    "applies_to": ["township"],
}


def scheme(*metrics: dict[str, Any]) -> Scheme:
    doc = base_scheme_doc()
    doc["metrics"] = list(metrics) or [RATE, DAYS, SHARE]
    return scheme_from(doc)


def with_targets(inputs: Inputs, *rows: tuple[int, str, int, float, float | None]) -> Inputs:
    nan = float("nan")
    return dataclasses.replace(
        inputs,
        targets=TargetRows(
            unit=[r[0] for r in rows],
            metric=[r[1] for r in rows],
            year=[r[2] for r in rows],
            target=[r[3] for r in rows],
            floor=[nan if r[4] is None else r[4] for r in rows],
        ),
    )


def metric_line(document: dict[str, Any], unit: str, metric: str) -> dict[str, Any]:
    entry = next(u for u in document["units"] if u["unit"] == unit)
    line: dict[str, Any] = next(m for m in entry["breakdown"]["metrics"] if m["metric"] == metric)
    return line


def two_units() -> LedgerBuilder:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.unit("z", category="township")
    for u in ("a", "b", "z"):
        b.reading(u, "rate", "2025", num=8, den=10)
        b.reading(u, "days", "2025-03", 45)
    return b


def test_a_target_record_replaces_the_metrics_target_for_its_unit_and_year_only() -> None:
    inputs = with_targets(two_units().inputs(), (0, "rate", 2025, 0.8, None), (1, "rate", 2024, 0.8, None))
    document = score(inputs, scheme(), year=2025).document()
    a, b = metric_line(document, "a", "rate"), metric_line(document, "b", "rate")
    assert (a["status"], a["earned"], a["target"], a["target_source"]) == ("met", 20, 0.8, "target_record")
    # b's record is of 2024: in 2025 the scheme's target stands.
    assert (b["status"], b["earned"], b["target"], b["target_source"]) == ("below", 0, 0.9, "scheme")


def test_a_linear_target_record_uses_its_floor_and_else_the_metrics() -> None:
    inputs = with_targets(two_units().inputs(), (0, "days", 2025, 50, 40), (1, "days", 2025, 50, None))
    document = score(inputs, scheme(), year=2025).document()
    a, b, z = (metric_line(document, u, "days") for u in ("a", "b", "z"))
    # a: (45 − 40) / (50 − 40) of 10 points; b: the metric's floor 30, (45 − 30) / (50 − 30).
    assert (a["earned"], a["floor"], a["target"]) == (pytest.approx(5.0), 40, 50)
    assert (b["earned"], b["floor"], b["target"]) == (pytest.approx(7.5), 30, 50)
    # z has no record: the scheme's target 60 and floor 30, (45 − 30) / (60 − 30).
    assert (z["earned"], z["floor"], z["target"], z["target_source"]) == (
        pytest.approx(5.0),
        30,
        60,
        "scheme",
    )


def test_a_target_record_never_makes_a_metric_apply() -> None:
    b = two_units()
    b.reading("a", "share", "2025", num=1, den=2)
    inputs = with_targets(b.inputs(), (0, "share", 2025, 0.4, None), (2, "share", 2025, 0.8, None))
    document = score(inputs, scheme(), year=2025).document()
    a = next(u for u in document["units"] if u["unit"] == "a")
    assert "share" not in [m["metric"] for m in a["breakdown"]["metrics"]]
    assert a["metrics_max"] == 30  # rate and days only
    z = metric_line(document, "z", "share")
    assert (z["status"], z["earned"], z["target"]) == ("missing", 0, 0.8)


def test_a_target_record_the_runs_scheme_cannot_use_is_refused_naming_it() -> None:
    inputs = with_targets(two_units().inputs(), (0, "days", 2025, 30, None))  # = the metric's floor
    with pytest.raises(InvalidArgument, match="a/days/2025"):
        score(inputs, scheme(), year=2025)


def test_an_upheld_appeal_voids_an_accountability_record_its_deduction_and_veto() -> None:
    b = two_units()
    b.accountable("D1", "a", date(2025, 3, 1), "disciplinary")
    b.accountable("D2", "b", date(2025, 3, 1), "disciplinary")
    inputs = b.inputs()
    rec = inputs.accountability
    voided = AccountabilityRows(id=rec.id, unit=rec.unit, date=rec.date, kind=rec.kind, voided=[True, False])
    document = score(dataclasses.replace(inputs, accountability=voided), scheme(), year=2025).document()
    units = {u["unit"]: u for u in document["units"]}
    assert (units["a"]["veto"], units["a"]["accountability_deduction"]) == (False, 0)
    assert units["a"]["breakdown"]["accountability"] == [
        {
            "id": "D1",
            "date": "2025-03-01",
            "kind": "disciplinary",
            "voided": True,
            "veto": False,
            "points": 0.0,
        }
    ]
    assert (units["b"]["veto"], units["b"]["accountability_deduction"], units["b"]["grade"]) == (
        True,
        5,
        "poor",
    )


class Row:
    """A stored record as the repository hands it to the inputs builder."""

    def __init__(self, kind: str, rid: str, unit: str, payload: dict[str, Any], voided: bool = False) -> None:
        self.kind, self.rid, self.unit, self.voided = kind, rid, unit, voided
        self.payload = json.dumps(payload)


def test_the_inputs_builder_voids_what_upheld_appeals_contest_and_reads_target_records() -> None:
    accountability = {"id": "A1", "unit": "a", "date": "2025-03-01", "kind": "interview", "reason": "约谈"}
    report = {
        "id": "E1",
        "unit": "a",
        "date": "2025-03-01",
        "category": "other",
        "severity": "general",
        "description": "差错",
    }
    rows = [
        Row("accountability", "A1", "a", accountability),
        Row("accountability", "A2", "a", {**accountability, "id": "A2"}),
        Row("error_report", "E1", "a", report),
        Row(
            "appeal", "P1", "a", {"id": "P1", "target_type": "accountability", "target": "A1", "upheld": True}
        ),
        Row(
            "appeal", "P2", "a", {"id": "P2", "target_type": "accountability", "target": "A2", "upheld": None}
        ),
        Row("appeal", "P3", "a", {"id": "P3", "target_type": "error_report", "target": "E1", "upheld": True}),
        Row("target", "a/rate/2025", "a", {"unit": "a", "metric": "rate", "year": 2025, "target": 0.8}),
    ]
    inputs = build_inputs([("a", "甲", "department")], {"a": 0}, two_units().inputs().tasks, rows)
    assert inputs.accountability.voided.tolist() == [True, False]
    assert inputs.errors.voided.tolist() == [True]
    assert inputs.targets.target.tolist() == [0.8] and np.isnan(inputs.targets.floor).all()


# --- the records ---------------------------------------------------------------------------------


def violation(kind: str, fields: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as refused:
        parse_record(kind, fields, scheme(), line=7)
    found = refused.value.violations[0]
    return found.field, found.description


TARGET = {"unit": "a", "metric": "days", "year": 2025, "target": 50}


def test_a_target_record_is_identified_by_unit_metric_and_year() -> None:
    record = parse_record("target", {**TARGET, "floor": 40}, scheme(), line=3)
    assert (record.kind, record.rid, record.unit, record.year) == ("target", "a/days/2025", "a", 2025)
    assert record.payload == {"unit": "a", "metric": "days", "year": 2025, "target": 50.0, "floor": 40.0}
    # A year read from a protobuf Struct is a whole float.
    assert parse_record("target", {**TARGET, "year": 2025.0}, scheme()).year == 2025


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**TARGET, "metric": "nosuch"}, "line 7: metric"),
        ({**TARGET, "year": "2025"}, "line 7: year"),
        ({**TARGET, "year": 2025.5}, "line 7: year"),
        ({**TARGET, "target": "high"}, "line 7: target"),
        ({k: v for k, v in TARGET.items() if k != "target"}, "line 7: target"),
        ({**TARGET, "floor": 60}, "line 7: floor"),  # above the target of a higher-is-better metric
        ({**TARGET, "target": 20}, "line 7: target"),  # below the metric's floor 30, no floor of its own
        ({**TARGET, "metric": "rate", "target": 0.8, "floor": 0.5}, "line 7: floor"),  # not linear
        ({**TARGET, "metric": "share", "target": 0}, "line 7: target"),  # proportional needs t > 0
        ({**TARGET, "colour": "red"}, "line 7: colour"),
    ],
)
def test_a_bad_target_record_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    assert violation("target", fields)[0] == field


APPEAL = {"id": "P1", "date": "2026-01-05", "reason": "材料已按时报送"}


def test_an_appeal_names_what_it_contests_in_either_form() -> None:
    old = parse_record("appeal", {**APPEAL, "error_report": "E1"}, scheme())
    new = parse_record("appeal", {**APPEAL, "target": "E1"}, scheme())
    explicit = parse_record("appeal", {**APPEAL, "target_type": "error_report", "target": "E1"}, scheme())
    assert old.canonical() == new.canonical() == explicit.canonical()
    assert (old.payload["target_type"], old.payload["target"], old.named) == (
        "error_report",
        "E1",
        "error_report",
    )
    of_accountability = parse_record(
        "appeal", {**APPEAL, "target_type": "accountability", "target": "A1"}, scheme()
    )
    assert (of_accountability.payload["target_type"], of_accountability.payload["target"]) == (
        "accountability",
        "A1",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**APPEAL}, "line 7: target"),
        ({**APPEAL, "target": "E1", "error_report": "E1"}, "line 7: error_report"),
        ({**APPEAL, "target_type": "accountability", "error_report": "A1"}, "line 7: error_report"),
        ({**APPEAL, "target_type": "task", "target": "T1"}, "line 7: target_type"),
    ],
)
def test_a_bad_appeal_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    assert violation("appeal", fields)[0] == field


def test_an_appeal_must_contest_a_record_that_exists_of_its_kind() -> None:
    s = scheme()
    accountability = parse_record(
        "accountability",
        {"id": "A1", "unit": "a", "date": "2025-03-01", "kind": "interview", "reason": "约谈"},
        s,
        line=1,
    )
    appeal = parse_record("appeal", {**APPEAL, "target_type": "accountability", "target": "A1"}, s, line=2)
    wrong = parse_record("appeal", {**APPEAL, "id": "P2", "target": "A1"}, s, line=3)  # an error report A1
    assert referenced([accountability, appeal, wrong]) == {("accountability", "A1"), ("error_report", "A1")}
    check_references([accountability, appeal], known_units={"a"}, task_units={}, stored={})
    check_references([appeal], known_units={"a"}, task_units={}, stored={("accountability", "A1"): "a"})
    with pytest.raises(InvalidArgument) as refused:
        check_references([accountability, wrong], known_units={"a"}, task_units={}, stored={})
    assert refused.value.violations[0].field == "line 3: target"
    assert "差错通报 'A1'" in refused.value.violations[0].description
