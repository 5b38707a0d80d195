"""The worked example of the spec (examples/ledger.jsonl under scheme.toml) scores as expected.json says."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import numpy as np
import pytest

from services.common.calendar import due_at
from services.common.scheme import Scheme, load_scheme_file
from services.scoring.domain import (
    NO_TIME,
    AccountabilityRows,
    ErrorRows,
    IncentiveRows,
    Inputs,
    ReadingRows,
    TaskRows,
    ToleranceRows,
    UnitTable,
    score,
)
from tests.conftest import example_path

from .scoring_builders import NUMBER_KEYS as NUMBERS
from .scoring_builders import assert_same_document, reference_document

EXAMPLES = example_path("scheme.toml").parent


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _counting_report(events: list[tuple[int, int, str]], as_of: int) -> tuple[int, int]:
    """(the report that counts, the cancel instant) of a task's events (instant, record, kind), SCORING §4."""
    reports: list[list[int]] = []  # [instant, rejected]
    cancelled = NO_TIME
    for at, _, kind in sorted(events):
        if kind == "report":
            reports.append([at, 0])
        elif kind == "reject":
            for rep in reversed(reports):
                if not rep[1]:
                    rep[1] = 1
                    break
        elif kind == "cancel":
            cancelled = at
    counting = [at for at, rejected in reports if not rejected and at <= as_of]
    return (max(counting) if counting else NO_TIME), cancelled


def inputs_from_ledger(lines: list[dict[str, Any]], scheme: Scheme, *, as_of: datetime) -> Inputs:
    """Columns for the kernel from ledger records, as the two services would hand them over."""
    cutoff = int(as_of.timestamp())
    units = [r for r in lines if r["type"] == "unit"]
    table = UnitTable([u["id"] for u in units], [u["name"] for u in units], [u["category"] for u in units])
    events: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for no, r in enumerate(lines):
        if r["type"] == "task_event":
            events[r["task"]].append((_epoch(r["at"]), no, r["kind"]))
    voided = {r["error_report"] for r in lines if r["type"] == "appeal" and r["upheld"]}

    cal, tz = scheme.calendar(), scheme.tz
    task_cols: dict[str, list[Any]] = defaultdict(list)
    for r in (r for r in lines if r["type"] == "task"):
        assigned = datetime.fromisoformat(r["assigned_at"])
        due = (
            datetime.fromisoformat(r["due_at"])
            if "due_at" in r
            else due_at(
                assigned_at=assigned, limit=scheme.task_types[r["task_type"]].limit, calendar=cal, tz=tz
            )
        )
        reported, cancelled = _counting_report(events[r["id"]], cutoff)
        for unit, lead in [(r["lead_unit"], True)] + [(u, False) for u in r.get("co_units", [])]:
            task_cols["task_id"].append(r["id"])
            task_cols["unit"].append(table.code(unit))
            task_cols["is_lead"].append(lead)
            task_cols["priority"].append(r.get("priority", "normal"))
            task_cols["assigned_at"].append(int(assigned.timestamp()))
            task_cols["due_at"].append(int(due.timestamp()))
            task_cols["reported_at"].append(reported)
            task_cols["cancelled_at"].append(cancelled)

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in lines if r["type"] == kind]

    nan = float("nan")
    readings = of("metric_reading")
    return Inputs(
        units=table,
        tasks=TaskRows(**{k: np.asarray(v) for k, v in task_cols.items()}),
        errors=ErrorRows(
            id=[r["id"] for r in of("error_report")],
            unit=table.codes(r["unit"] for r in of("error_report")),
            date=[date.fromisoformat(r["date"]) for r in of("error_report")],
            category=[r["category"] for r in of("error_report")],
            severity=[r["severity"] for r in of("error_report")],
            voided=[r["id"] in voided for r in of("error_report")],
        ),
        readings=ReadingRows(
            unit=table.codes(r["unit"] for r in readings),
            metric=[r["metric"] for r in readings],
            period=[r["period"] for r in readings],
            value=[r.get("value", nan) for r in readings],
            numerator=[r.get("numerator", nan) for r in readings],
            denominator=[r.get("denominator", nan) for r in readings],
        ),
        incentives=IncentiveRows(
            id=[r["id"] for r in of("incentive")],
            unit=table.codes(r["unit"] for r in of("incentive")),
            date=[r["date"] for r in of("incentive")],
            level=[r["level"] for r in of("incentive")],
        ),
        tolerances=ToleranceRows(
            id=[r["id"] for r in of("tolerance")],
            unit=table.codes(r["unit"] for r in of("tolerance")),
            target_type=[r["target_type"] for r in of("tolerance")],
            target=[r["target"] for r in of("tolerance")],
            decision=[r["decision"] for r in of("tolerance")],
            date=[r["date"] for r in of("tolerance")],
        ),
        accountability=AccountabilityRows(
            id=[r["id"] for r in of("accountability")],
            unit=table.codes(r["unit"] for r in of("accountability")),
            date=[r["date"] for r in of("accountability")],
            kind=[r["kind"] for r in of("accountability")],
        ),
    )


@pytest.fixture(scope="module")
def example() -> tuple[Scheme, Inputs, dict[str, Any], datetime]:
    scheme = load_scheme_file(EXAMPLES / "scheme.toml")
    expected = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
    as_of = datetime.fromisoformat(expected["as_of"])
    lines = [
        json.loads(x)
        for x in (EXAMPLES / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    return scheme, inputs_from_ledger(lines, scheme, as_of=as_of), expected, as_of


def test_example_scores_as_expected(example: tuple[Scheme, Inputs, dict[str, Any], datetime]) -> None:
    scheme, inputs, expected, as_of = example
    doc = score(inputs, scheme, year=expected["year"], as_of=as_of).document()
    assert (doc["year"], doc["scheme"], doc["as_of"]) == (
        expected["year"],
        expected["scheme"],
        expected["as_of"],
    )
    assert doc["calendar_warnings"] == expected["calendar_warnings"]
    assert [u["unit"] for u in doc["units"]] == [u["unit"] for u in expected["units"]]
    for got, want in zip(doc["units"], expected["units"], strict=True):
        for key in NUMBERS:
            assert got[key] == pytest.approx(want[key], abs=1e-6), (got["unit"], key)
        for key in ("unit", "name", "category", "total", "rank", "grade", "veto"):
            assert got[key] == want[key], (got["unit"], key)


def test_example_breakdowns_add_up(example: tuple[Scheme, Inputs, dict[str, Any], datetime]) -> None:
    scheme, inputs, expected, as_of = example
    doc = score(inputs, scheme, year=expected["year"], as_of=as_of).document()
    by_unit = {u["unit"]: u for u in doc["units"]}
    fgj = {t["task"]: t for t in by_unit["fgj"]["breakdown"]["tasks"]}
    # The derivations the example's README asks to check by hand.
    assert fgj["T1"]["due_at"] == "2025-05-12T23:59:59+08:00" and fgj["T1"]["credit"] == 1.0
    assert fgj["T2"]["due_at"] == "2025-10-13T23:59:59+08:00" and fgj["T2"]["late_working_days"] == 2
    assert fgj["T2"]["credit"] == pytest.approx(0.8)
    assert fgj["T3"]["due_at"] == "2025-06-10T23:59:59+08:00" and fgj["T3"]["late_working_days"] == 4
    assert fgj["T3"]["reported_at"] == "2025-06-16T10:00:00+08:00"
    czj = {t["task"]: t for t in by_unit["czj"]["breakdown"]["tasks"]}
    assert czj["T3"]["role"] == "co" and czj["T3"]["weight"] == 0.5 and "T6" not in czj
    for u in doc["units"]:
        b = u["breakdown"]
        assert sum(t["points"] for t in b["tasks"]) == pytest.approx(u["timeliness_earned"], abs=1e-9)
        assert sum(m["earned"] for m in b["metrics"]) == pytest.approx(u["metrics_earned"], abs=1e-9)
        assert sum(m["max"] for m in b["metrics"]) == pytest.approx(u["metrics_max"], abs=1e-9)
        assert sum(e["points"] for e in b["errors"]) == pytest.approx(b["caps"]["errors"]["sum"], abs=1e-9)
        assert b["caps"]["errors"]["applied"] == u["error_deduction"]
        assert sum(e["points"] for e in b["incentives"]) == pytest.approx(
            b["caps"]["incentives"]["sum"], abs=1e-9
        )
        assert b["caps"]["incentives"]["applied"] == u["bonus"]
        assert sum(e["points"] for e in b["accountability"]) == pytest.approx(
            b["caps"]["accountability"]["sum"], abs=1e-9
        )
        assert b["caps"]["accountability"]["applied"] == u["accountability_deduction"]
        assert u["veto"] == any(a["veto"] for a in b["accountability"])
    json.dumps(doc, allow_nan=False)


def test_example_matches_the_reference(example: tuple[Scheme, Inputs, dict[str, Any], datetime]) -> None:
    scheme, inputs, expected, as_of = example
    doc = score(inputs, scheme, year=expected["year"], as_of=as_of).document(include_breakdown=False)
    ref = reference_document(inputs, scheme, year=expected["year"], as_of=as_of)
    assert_same_document(doc, ref)
