"""The scoring kernel, rule by rule (SCORING.md §4–§8, §10); each case also checked against the reference."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.common.errors import InvalidArgument, SchemeInvalid
from services.common.scheme import Scheme
from services.scoring.domain import Inputs, UnitTable, round_total, score

from .scoring_builders import (
    LedgerBuilder,
    assert_same_document,
    base_scheme_doc,
    epoch,
    reference_document,
    scheme_from,
)

SH = ZoneInfo("Asia/Shanghai")
UNIT_KEYS = [
    "unit",
    "name",
    "category",
    "timeliness_earned",
    "timeliness_max",
    "metrics_earned",
    "metrics_max",
    "base",
    "bonus",
    "error_deduction",
    "accountability_deduction",
    "veto",
    "total",
    "rank",
    "grade",
    "nothing_assessed",
    "breakdown",
]


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=tz)


def eod(y: int, m: int, d: int) -> datetime:
    return at(y, m, d, 23, 59, 59)


def make_scheme(metrics: list[dict[str, Any]] | None = None, **sections: dict[str, Any]) -> Scheme:
    doc = base_scheme_doc()
    for name, changes in sections.items():
        doc[name].update(changes)
    if metrics:
        doc["metrics"] = metrics
    return scheme_from(doc)


def run(
    b: LedgerBuilder, scheme: Scheme | None = None, *, year: int = 2025, as_of: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Score, check the reference agrees, and return the units of the document by id."""
    scheme = scheme or make_scheme()
    inputs = b.inputs()
    doc = score(inputs, scheme, year=year, as_of=as_of).document()
    assert_same_document(doc, reference_document(inputs, scheme, year=year, as_of=as_of))
    json.dumps(doc, allow_nan=False)
    return {u["unit"]: u for u in doc["units"]}


def tasks_of(unit: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task"]: t for t in unit["breakdown"]["tasks"]}


def metrics_of(unit: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metric"]: m for m in unit["breakdown"]["metrics"]}


def metric(mid: str, **kw: Any) -> dict[str, Any]:
    m = {
        "id": mid,
        "name": mid,
        "kind": "value",
        "aggregate": "sum",
        "direction": "min",
        "rule": "threshold",
        "target": 1.0,
        "points": 10,
    }
    m.update(kw)
    if m["kind"] == "ratio":
        m.pop("aggregate", None)
    return m


# --- §4 timeliness ----------------------------------------------------------------------------


def test_credit_on_time_late_and_unreported() -> None:
    b = LedgerBuilder()
    for u in "abcdef":
        b.unit(u)
    b.task("T1", "a", due=eod(2025, 3, 3), reported=at(2025, 3, 3, 18))
    b.task("T2", "b", due=eod(2025, 3, 3), reported=at(2025, 3, 5, 10))  # Tue, Wed: L = 2
    b.task("T3", "c", due=at(2025, 3, 3, 10), reported=at(2025, 3, 3, 14))  # same day, still late: L = 1
    b.task("T4", "d", due=eod(2025, 3, 3))
    b.task("T5", "e", due=eod(2025, 3, 3), reported=at(2025, 4, 30))  # far too late: 0, not negative
    b.task("T6", "f", due=eod(2025, 3, 3), reported=eod(2025, 3, 3))  # at the due instant is on time
    r = run(b)
    earned = {u: r[u]["timeliness_earned"] for u in "abcdef"}
    assert earned == pytest.approx({"a": 40, "b": 32, "c": 36, "d": 0, "e": 0, "f": 40})
    assert all(r[u]["timeliness_max"] == 40 for u in "abcdef")
    late = {u: tasks_of(r[u])[f"T{i + 1}"]["late_working_days"] for i, u in enumerate("abcdef")}
    assert late["a"] == 0 and late["b"] == 2 and late["c"] == 1 and late["d"] is None and late["f"] == 0
    assert late["e"] > 10
    assert tasks_of(r["d"])["T4"]["reported_at"] is None and tasks_of(r["d"])["T4"]["credit"] == 0


def test_late_days_are_working_days_of_the_statutory_and_local_calendar() -> None:
    b = LedgerBuilder()
    for u in "abc":
        b.unit(u)
    b.task("T1", "a", due=eod(2025, 9, 30), reported=at(2025, 10, 9, 9))  # Oct 1–8 National Day: L = 1
    b.task("T2", "b", due=eod(2025, 9, 26), reported=at(2025, 9, 29, 9))  # Sat off, Sun 28 调休 works: L = 2
    b.task("T3", "c", due=eod(2025, 3, 3), reported=at(2025, 3, 5, 10))  # Tue a local holiday: L = 1
    r = run(b, make_scheme(calendar={"extra_holidays": ["2025-03-04"], "extra_workdays": []}))
    assert [
        tasks_of(r[u])[t]["late_working_days"] for u, t in zip("abc", ["T1", "T2", "T3"], strict=True)
    ] == [1, 2, 1]
    assert r["a"]["timeliness_earned"] == pytest.approx(36)
    assert r["b"]["timeliness_earned"] == pytest.approx(32)


def test_counted_tasks_are_due_in_the_year_by_local_date_and_by_the_cutoff() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.task("T1", "a", due=eod(2025, 6, 30), reported=at(2025, 6, 30, 9))  # due exactly at as_of: counted
    b.task("T2", "a", due=at(2025, 7, 1), reported=at(2025, 6, 30, 9))  # due after as_of: not counted
    b.task("T3", "a", due=eod(2024, 12, 31))  # another year
    b.task("T4", "a", due=at(2025, 1, 1, 0, 30))  # 2024-12-31 in UTC, 2025 locally: counted
    r = run(b, as_of=eod(2025, 6, 30))
    assert set(tasks_of(r["a"])) == {"T1", "T4"}
    assert r["a"]["timeliness_earned"] == pytest.approx(20)

    b2 = LedgerBuilder()
    b2.unit("a")
    b2.task("T5", "a", due=at(2026, 1, 1, 0, 0, 30), reported=at(2025, 12, 30))
    assert run(b2)["a"]["timeliness_max"] == 0
    assert run(b2, year=2026)["a"]["timeliness_earned"] == 40


def test_cancelled_at_or_before_the_cutoff_drops_the_task_and_after_does_not() -> None:
    b = LedgerBuilder()
    b.unit("a")
    as_of = at(2025, 6, 30, 12)
    b.task("T1", "a", due=eod(2025, 3, 3), cancelled=at(2025, 3, 2))
    b.task("T2", "a", due=eod(2025, 3, 3), cancelled=as_of)
    b.task("T3", "a", due=eod(2025, 3, 3), cancelled=at(2025, 7, 1))
    b.task("T4", "a", due=eod(2025, 3, 3), reported=at(2025, 3, 1))
    r = run(b, as_of=as_of)
    assert set(tasks_of(r["a"])) == {"T3", "T4"}
    assert r["a"]["timeliness_earned"] == pytest.approx(20)


def test_a_report_after_the_cutoff_does_not_count() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.task("T1", "a", due=eod(2025, 3, 3), reported=at(2025, 7, 2))
    r = run(b, as_of=eod(2025, 6, 30))
    assert tasks_of(r["a"])["T1"]["reported_at"] is None and r["a"]["timeliness_earned"] == 0


def test_co_units_weigh_co_unit_weight_times_the_priority_weight() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.task("T1", "a", due=eod(2025, 3, 3), reported=at(2025, 3, 5, 10), co=("b",))  # c = 0.8
    b.task("T2", "b", due=eod(2025, 3, 3), reported=at(2025, 3, 3), co=("a",), priority="important")
    r = run(b)
    assert r["a"]["timeliness_earned"] == pytest.approx(40 * (1 * 0.8 + 1.0 * 1) / 2)
    assert r["b"]["timeliness_earned"] == pytest.approx(40 * (0.5 * 0.8 + 2 * 1) / 2.5)
    a, bb = tasks_of(r["a"]), tasks_of(r["b"])
    assert (a["T1"]["role"], a["T1"]["weight"], a["T2"]["role"], a["T2"]["weight"]) == (
        "lead",
        1.0,
        "co",
        1.0,
    )
    assert (bb["T1"]["role"], bb["T1"]["weight"], bb["T2"]["weight"]) == ("co", 0.5, 2.0)


def test_weight_zero_drops_the_task() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.task("T1", "a", due=eod(2025, 3, 3), priority="info")  # weight 0
    b.task("T2", "b", due=eod(2025, 3, 3), reported=at(2025, 3, 3), co=("a",))
    r = run(b, make_scheme(timeliness={"co_unit_weight": 0.0}))
    assert r["a"]["timeliness_max"] == 0 and r["a"]["breakdown"]["tasks"] == []
    assert r["a"]["nothing_assessed"] and r["a"]["base"] == 100
    assert r["b"]["timeliness_earned"] == 40


def test_a_priority_unknown_to_the_scheme_is_refused() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.task("T1", "a", due=eod(2025, 3, 3), priority="urgent")
    with pytest.raises(SchemeInvalid) as caught:
        score(b.inputs(), make_scheme(), year=2025)
    (v,) = caught.value.violations
    assert v.field == "timeliness.priority_weights" and "“urgent”" in v.description and "T1" in v.description


def test_tolerance_on_tasks_exempts_or_mitigates_with_the_latest_decision() -> None:
    b = LedgerBuilder()
    for u in "abcdef":
        b.unit(u)
    late = {"due": eod(2025, 3, 3), "reported": at(2025, 3, 5, 10)}  # c = 0.8
    b.task("T1", "a", **late)
    b.task("T2", "b", **late)
    b.task("T3", "c", due=eod(2025, 3, 3))
    b.task("T4", "d", due=eod(2025, 3, 3))
    b.task("T5", "e", **late, co=("f",))
    b.tolerance("R1", "a", "task", "T1", "exempt", date(2025, 3, 10))
    b.tolerance("R2", "b", "task", "T2", "mitigate", date(2025, 3, 10))
    b.tolerance("R3", "c", "task", "T3", "mitigate", date(2025, 5, 1))  # recorded first, dated later: stands
    b.tolerance("R4", "c", "task", "T3", "exempt", date(2025, 4, 1))
    b.tolerance("R5", "d", "task", "T4", "exempt", date(2025, 4, 1))
    b.tolerance("R6", "d", "task", "T4", "mitigate", date(2025, 4, 1))  # same date, recorded later: stands
    b.tolerance("R7", "f", "task", "T5", "exempt", date(2025, 4, 1))  # the co-unit's row only
    r = run(b)
    earned = {u: r[u]["timeliness_earned"] for u in "abcdef"}
    assert earned == pytest.approx({"a": 40, "b": 36, "c": 20, "d": 20, "e": 32, "f": 40})
    assert tasks_of(r["c"])["T3"]["tolerance"] == {"id": "R3", "decision": "mitigate"}
    assert tasks_of(r["d"])["T4"]["tolerance"] == {"id": "R6", "decision": "mitigate"}
    assert tasks_of(r["e"])["T5"]["tolerance"] is None


def test_an_unknown_tolerance_decision_is_refused() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.tolerance("R1", "a", "task", "T1", "forgive", date(2025, 3, 10))
    with pytest.raises(InvalidArgument, match="forgive"):
        score(b.inputs(), make_scheme(), year=2025)


# --- §5 indicators ----------------------------------------------------------------------------


def test_ratio_not_applicable_drops_out_and_missing_readings_cost_the_points() -> None:
    scheme = make_scheme([metric("rate", kind="ratio", points=20), metric("days", target=10)])
    b = LedgerBuilder()
    for u in "abcd":
        b.unit(u)
    b.reading("a", "rate", "2025", num=0, den=0)
    b.reading("a", "days", "2025", 12)
    b.reading("c", "rate", "2025-06", num=2, den=2)
    b.reading("c", "rate", "2025-12", num=1, den=1)
    b.reading("c", "days", "2024", 50)  # another year: missing
    b.reading("d", "rate", "2025-01", num=0, den=0)
    b.reading("d", "rate", "2025-02", num=1, den=2)
    b.reading("d", "days", "2025-03", 5)
    b.reading("d", "days", "2025-04", 5)
    r = run(b, scheme)
    got = {u: (r[u]["metrics_earned"], r[u]["metrics_max"]) for u in "abcd"}
    assert got == {"a": (10, 10), "b": (0, 30), "c": (20, 30), "d": (10, 30)}
    status = {u: {k: m["status"] for k, m in metrics_of(r[u]).items()} for u in "abcd"}
    assert status["a"] == {"rate": "not_applicable", "days": "met"}
    assert status["b"] == {"rate": "missing", "days": "missing"}
    assert status["c"] == {"rate": "met", "days": "missing"}
    assert status["d"] == {"rate": "below", "days": "met"}
    assert metrics_of(r["a"])["rate"]["value"] is None and metrics_of(r["a"])["rate"]["max"] == 0
    assert metrics_of(r["d"])["rate"]["value"] == 0.5


def test_metrics_apply_to_categories_and_unit_ids() -> None:
    scheme = make_scheme(
        [metric("m1", applies_to=["township"]), metric("m2", applies_to=["a"]), metric("m3")]
    )
    b = LedgerBuilder()
    b.unit("a", "department")
    b.unit("t1", "township")
    b.unit("d2", "department")
    r = run(b, scheme)
    assert {u: sorted(metrics_of(r[u])) for u in r} == {"a": ["m2", "m3"], "t1": ["m1", "m3"], "d2": ["m3"]}
    assert (r["a"]["metrics_max"], r["t1"]["metrics_max"], r["d2"]["metrics_max"]) == (20, 20, 10)


@pytest.mark.parametrize(
    ("aggregate", "a", "b"),
    [("sum", 23, 23), ("mean", 4.6, 4.6), ("max", 9, 9), ("min", 1, 1), ("last", 7, 1)],
)
def test_value_aggregates(aggregate: str, a: float, b: float) -> None:
    # proportional to a target of 100 with 100 points earns exactly the annual value
    scheme = make_scheme([metric("v", aggregate=aggregate, rule="proportional", target=100, points=100)])
    lb = LedgerBuilder()
    lb.unit("a")
    lb.unit("b")
    rows = [("2025-03", 4), ("2025-06-30", 2), ("2025-06", 9), ("2024-12", 100), ("2026-01", 100)]
    for period, value in [*rows[:2], ("2025-12", 1), ("2025", 7), *rows[2:]]:
        lb.reading("a", "v", period, value)
    # The same readings with the two that end on Dec 31 recorded the other way round.
    for period, value in [*rows[:2], ("2025", 7), ("2025-12", 1), *rows[2:]]:
        lb.reading("b", "v", period, value)
    r = run(lb, scheme)
    assert metrics_of(r["a"])["v"]["value"] == pytest.approx(a)
    assert metrics_of(r["b"])["v"]["value"] == pytest.approx(b)
    assert r["a"]["metrics_earned"] == pytest.approx(a)


@pytest.mark.parametrize(
    ("rule", "direction", "target", "floor", "value", "fraction", "status"),
    [
        ("threshold", "min", 0.5, None, 0.5, 1, "met"),
        ("threshold", "min", 0.5, None, 0.49, 0, "below"),
        ("threshold", "min", 0.5, None, 0.5 - 1e-10, 1, "met"),
        ("threshold", "max", 0.5, None, 0.5, 1, "met"),
        ("threshold", "max", 0.5, None, 0.51, 0, "below"),
        ("threshold", "max", 0.5, None, 0.5 + 1e-10, 1, "met"),
        ("proportional", "min", 0.75, None, 0.72, 0.96, "below"),
        ("proportional", "min", 0.75, None, 0.9, 1, "met"),
        ("proportional", "min", 0.75, None, -1, 0, "below"),
        ("proportional", "max", 2, None, 4, 0.5, "below"),
        ("proportional", "max", 2, None, 1, 1, "met"),
        ("proportional", "max", 2, None, 0, 1, "met"),
        ("proportional", "max", 2, None, -3, 1, "met"),
        ("linear", "min", 60, 30, 45, 0.5, "below"),
        ("linear", "min", 60, 30, 20, 0, "below"),
        ("linear", "min", 60, 30, 60, 1, "met"),
        ("linear", "min", 60, 30, 70, 1, "met"),
        ("linear", "max", 2, 10, 6, 0.5, "below"),
        ("linear", "max", 2, 10, 12, 0, "below"),
        ("linear", "max", 2, 10, 1, 1, "met"),
    ],
)
def test_rules_in_both_directions(
    rule: str, direction: str, target: float, floor: float | None, value: float, fraction: float, status: str
) -> None:
    m = metric("m", rule=rule, direction=direction, target=target, points=10)
    if floor is not None:
        m["floor"] = floor
    b = LedgerBuilder()
    b.unit("a")
    b.reading("a", "m", "2025", value)
    line = metrics_of(run(b, make_scheme([m]))["a"])["m"]
    assert line["earned"] == pytest.approx(10 * fraction)
    assert (line["status"], line["max"], line["rule"], line["direction"]) == (status, 10, rule, direction)


def test_comparisons_with_the_target_allow_floating_point_slack() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.reading("a", "m", "2025-01", 0.1)
    b.reading("a", "m", "2025-02", 0.2)  # 0.30000000000000004
    r = run(b, make_scheme([metric("m", direction="max", target=0.3)]))
    assert metrics_of(r["a"])["m"]["status"] == "met" and r["a"]["metrics_earned"] == 10


def test_a_malformed_period_is_refused() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.reading("a", "m", "2025-13", 1)
    with pytest.raises(InvalidArgument) as caught:
        score(b.inputs(), make_scheme([metric("m")]), year=2025)
    assert caught.value.violations[0].field == "readings.period" and "2025-13" in str(caught.value)


# --- §6 base ----------------------------------------------------------------------------------


def test_units_with_nothing_assessed_get_100() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.unit("c")
    b.reading("b", "rate", "2025", num=0, den=0)  # its only metric is not applicable
    b.incentive("I1", "c", date(2025, 5, 1), "provincial")
    b.reading("c", "rate", "2025", num=0, den=0)
    r = run(b, make_scheme([metric("rate", kind="ratio")]))
    a = r["a"]  # a's rate is missing: 0 of 10
    assert (a["base"], a["nothing_assessed"]) == (0, False)
    assert (r["b"]["base"], r["b"]["nothing_assessed"], r["b"]["total"]) == (100, True, 100)
    assert r["c"]["total"] == 102  # the bonus is added on top of 100


def test_base_is_the_share_of_everything_asked() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.task("T1", "a", due=eod(2025, 3, 3), reported=at(2025, 3, 5, 10))  # 32 of 40
    b.reading("a", "m", "2025", 0.5)  # 5 of 10 (proportional)
    r = run(b, make_scheme([metric("m", rule="proportional")]))
    assert r["a"]["base"] == pytest.approx(100 * 37 / 50)


# --- §7 errors, incentives, accountability ----------------------------------------------------


def test_error_deductions_voided_exempt_mitigated_capped_and_by_year() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.error("E1", "a", date(2025, 4, 1), "general")
    b.error("E2", "a", date(2025, 4, 2), "serious", voided=True)
    b.error("E3", "a", date(2025, 4, 3), "grave")
    b.error("E4", "a", date(2025, 4, 4), "grave")
    b.error("E5", "a", date(2024, 12, 31), "serious")
    b.tolerance("R1", "a", "error_report", "E3", "exempt", date(2025, 5, 1))
    b.tolerance("R2", "a", "error_report", "E4", "mitigate", date(2025, 5, 1))
    for i in range(25):
        b.error(f"F{i}", "b", date(2025, 6, 1), "grave")
    r = run(b)
    assert r["a"]["error_deduction"] == pytest.approx(0.5 + 0 + 0 + 1.0)
    lines = {e["id"]: e for e in r["a"]["breakdown"]["errors"]}
    assert set(lines) == {"E1", "E2", "E3", "E4"}
    assert (lines["E2"]["voided"], lines["E2"]["deduction"], lines["E2"]["points"]) == (True, 1.0, 0.0)
    assert lines["E3"]["tolerance"] == {"id": "R1", "decision": "exempt"} and lines["E3"]["points"] == 0
    assert lines["E4"]["points"] == 1.0
    assert r["b"]["error_deduction"] == 10
    assert r["b"]["breakdown"]["caps"]["errors"] == {"sum": 50.0, "cap": 10.0, "applied": 10.0}


def test_a_severity_unknown_to_the_scheme_is_refused() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.error("E1", "a", date(2025, 4, 1), "catastrophic")
    with pytest.raises(SchemeInvalid, match="catastrophic"):
        score(b.inputs(), make_scheme(), year=2025)


def test_incentives_add_capped_and_by_year() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    b.incentive("I1", "a", date(2025, 1, 1), "national")
    b.incentive("I2", "a", date(2025, 12, 31), "provincial")
    b.incentive("I3", "a", date(2025, 6, 1), "municipal")
    b.incentive("I4", "a", date(2026, 1, 1), "national")
    b.incentive("I5", "b", date(2025, 6, 1), "county")
    r = run(b)
    assert r["a"]["bonus"] == 5 and r["b"]["bonus"] == 0.5
    assert r["a"]["breakdown"]["caps"]["incentives"] == {"sum": 6.0, "cap": 5.0, "applied": 5.0}
    assert [i["id"] for i in r["a"]["breakdown"]["incentives"]] == ["I1", "I3", "I2"]


def test_accountability_deducts_capped_and_a_veto_kind_vetoes() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.unit("b")
    for i in range(20):
        b.accountable(f"A{i}", "a", date(2025, 3, 1), "interview")
    b.accountable("D1", "b", date(2025, 3, 1), "disciplinary")
    b.accountable("D2", "a", date(2024, 3, 1), "disciplinary")  # last year's: no veto this year
    r = run(b)
    assert (r["a"]["accountability_deduction"], r["a"]["veto"]) == (15, False)
    assert (r["b"]["accountability_deduction"], r["b"]["veto"], r["b"]["grade"]) == (5, True, "poor")
    assert r["b"]["breakdown"]["accountability"] == [
        {
            "id": "D1",
            "date": "2025-03-01",
            "kind": "disciplinary",
            "voided": False,
            "veto": True,
            "points": 5.0,
        }
    ]


def test_an_accountability_kind_unknown_to_the_scheme_is_refused() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.accountable("A1", "a", date(2025, 3, 1), "exile")
    with pytest.raises(SchemeInvalid, match="exile"):
        score(b.inputs(), make_scheme(), year=2025)


# --- §8 total, rank, grade --------------------------------------------------------------------


def _deducted(b: LedgerBuilder, unit: str, category: str, interviews: int, veto: bool = False) -> None:
    """A unit with nothing assessed (base 100) less one point per interview, vetoed if asked."""
    b.unit(unit, category)
    for i in range(interviews):
        b.accountable(f"{unit}-A{i}", unit, date(2025, 3, 1), "interview")
    if veto:
        b.accountable(f"{unit}-D", unit, date(2025, 3, 1), "disciplinary")


def test_vetoed_units_rank_after_every_unit_without_one_and_are_poor() -> None:
    b = LedgerBuilder()
    _deducted(b, "v1", "department", 0, veto=True)  # 95
    _deducted(b, "c1", "department", 1)  # 99
    _deducted(b, "v2", "department", 1, veto=True)  # 94
    _deducted(b, "c2", "department", 2)  # 98
    _deducted(b, "c3", "department", 2)  # 98
    _deducted(b, "v3", "department", 0, veto=True)  # 95
    r = run(b)
    assert {u: r[u]["rank"] for u in r} == {"c1": 1, "c2": 2, "c3": 2, "v1": 4, "v3": 4, "v2": 6}
    assert {u: r[u]["grade"] for u in r} == {
        "c1": "excellent",
        "c2": "good",
        "c3": "good",
        "v1": "poor",
        "v3": "poor",
        "v2": "poor",
    }


def test_equal_totals_share_a_rank_and_the_next_rank_skips() -> None:
    b = LedgerBuilder()
    for unit, n in [("a", 1), ("b", 2), ("c", 2), ("d", 3)]:
        _deducted(b, unit, "department", n)
    assert [u["rank"] for u in run(b).values()] == [1, 2, 2, 4]


def test_excellent_quota_counts_per_category_and_ties_inside_it_all_qualify() -> None:
    b = LedgerBuilder()
    for unit, n in [("a", 1), ("b", 1), ("c", 5), ("d", 6), ("e", 7)]:  # 99, 99, 95, 94, 93
        _deducted(b, unit, "department", n)
    for unit, n in [("t1", 1), ("t2", 2)]:
        _deducted(b, unit, "township", n)
    r = run(b)  # quota 0.2: departments max(1, floor(1.0)) = 1, townships max(1, floor(0.4)) = 1
    assert [r[u]["grade"] for u in "abcde"] == ["excellent", "excellent", "good", "good", "good"]
    assert (r["t1"]["grade"], r["t2"]["grade"]) == ("excellent", "good")


def test_zero_quota_still_allows_one_excellent_unit() -> None:
    b = LedgerBuilder()
    for unit, n in [("a", 1), ("b", 2)]:
        _deducted(b, unit, "department", n)
    r = run(b, make_scheme(grades={"excellent_quota": 0.0}))
    assert (r["a"]["grade"], r["b"]["grade"]) == ("excellent", "good")


def test_quota_is_floored_in_decimal_not_binary() -> None:
    # 100 × 0.29 is 28.999999999999996 in binary floating point; the office means 29.
    b = LedgerBuilder()
    for k in range(100):
        b.unit(f"u{k:03d}")
        for i in range(k):
            b.accountable(f"u{k}-A{i}", f"u{k:03d}", date(2025, 3, 1), "interview")
    scheme = make_scheme(
        grades={"excellent_quota": 0.29, "excellent_min": 0, "good_min": 0, "pass_min": 0},
        accountability={"cap": 1000, "kinds": {"interview": {"deduction": 0.5}}},
    )
    r = run(b, scheme)
    assert sum(u["grade"] == "excellent" for u in r.values()) == 29


def test_grade_thresholds() -> None:
    b = LedgerBuilder()
    b.unit("top")
    for unit, n in [("g", 15), ("f", 30), ("p", 45)]:  # base 100 less 0.5 × n: 92.5, 85, 77.5
        b.unit(unit)
        for i in range(n):
            b.accountable(f"{unit}{i}", unit, date(2025, 3, 1), "interview")
    scheme = make_scheme(
        accountability={"cap": 100, "kinds": {"interview": {"deduction": 0.5}}},
        grades={"excellent_min": 95, "good_min": 85, "pass_min": 77.5, "excellent_quota": 1.0},
    )
    r = run(b, scheme)
    assert {u: r[u]["grade"] for u in r} == {"top": "excellent", "g": "good", "f": "good", "p": "fair"}
    r = run(
        b,
        make_scheme(
            accountability={"cap": 100, "kinds": {"interview": {"deduction": 0.5}}},
            grades={"excellent_min": 95, "good_min": 90, "pass_min": 80, "excellent_quota": 1.0},
        ),
    )
    assert {u: r[u]["grade"] for u in r} == {"top": "excellent", "g": "good", "f": "fair", "p": "poor"}


def test_total_is_floored_at_zero() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.reading("a", "m", "2025", 0)  # 0 of 10: base 0
    b.error("E1", "a", date(2025, 4, 1), "grave")
    r = run(b, make_scheme([metric("m")]))
    assert r["a"]["base"] == 0 and r["a"]["total"] == 0 and str(r["a"]["total"]) == "0.0"


def test_total_is_rounded_half_away_from_zero_from_its_shortest_decimal() -> None:
    assert round_total(2.675) == 2.68  # binary 2.67499999…, written 2.675
    assert round_total(0.125) == 0.13 and round_total(0.124999) == 0.12
    assert round_total(99.995) == 100.0 and round_total(90.24999999999999) == 90.25
    b = LedgerBuilder()
    b.unit("a")
    b.accountable("A1", "a", date(2025, 3, 1), "tiny")
    r = run(b, make_scheme(accountability={"kinds": {"tiny": {"deduction": 0.005}}}))
    assert r["a"]["total"] == 100.0  # 99.995 → 100.00


def test_units_are_ordered_by_category_as_first_seen_then_rank_then_id() -> None:
    b = LedgerBuilder()
    _deducted(b, "t2", "township", 1)
    _deducted(b, "d2", "department", 1)
    _deducted(b, "t1", "township", 1)
    _deducted(b, "d1", "department", 0)
    _deducted(b, "d3", "department", 1)
    _deducted(b, "t0", "township", 3)
    assert list(run(b)) == ["t1", "t2", "t0", "d1", "d2", "d3"]


# --- calendar warnings, time zones, the document ------------------------------------------------


def test_calendar_warnings_name_years_the_statutory_calendar_does_not_cover() -> None:
    b = LedgerBuilder()
    b.unit("a")
    scheme = make_scheme()
    assert score(b.inputs(), scheme, year=2027).document()["calendar_warnings"] == [2027]
    assert score(b.inputs(), scheme, year=2025).document()["calendar_warnings"] == []
    run(b, scheme, year=2027)  # the reference agrees
    # A 2026 task reported in January 2027 counted its late days on the weekday fallback.
    b.task("T1", "a", due=eod(2026, 12, 30), reported=at(2027, 1, 5, 9))
    doc = score(b.inputs(), scheme, year=2026, as_of=at(2027, 1, 20)).document()
    assert doc["calendar_warnings"] == [2027]
    run(b, scheme, year=2026, as_of=at(2027, 1, 20))


def test_a_zone_with_daylight_saving_takes_local_dates_and_offsets_per_instant() -> None:
    ny = ZoneInfo("America/New_York")
    doc = base_scheme_doc()
    doc["scheme"]["timezone"] = "America/New_York"
    scheme = scheme_from(doc)
    b = LedgerBuilder()
    b.unit("a")
    dues = {
        "S1": at(2025, 3, 9, 1, 30, tz=ny),  # before spring-forward, -05:00
        "S2": at(2025, 3, 9, 3, 30, tz=ny),  # after, -04:00
        "F1": datetime(2025, 11, 2, 1, 30, tzinfo=ny, fold=0),  # the first 01:30, -04:00
        "F2": datetime(2025, 11, 2, 1, 30, tzinfo=ny, fold=1),  # the second, -05:00
        "Y1": at(2025, 12, 31, 22, tz=ny),  # 2026 in UTC, 2025 locally: counted
        "Y2": at(2026, 1, 1, 0, 30, tz=ny),  # not counted
    }
    for task, due in dues.items():
        b.task(task, "a", due=due, reported=due)
    r = run(b, scheme)
    lines = tasks_of(r["a"])
    assert set(lines) == {"S1", "S2", "F1", "F2", "Y1"}
    for task, line in lines.items():
        assert line["due_at"] == datetime.fromtimestamp(epoch(dues[task]), ny).isoformat()
    assert lines["S1"]["due_at"].endswith("-05:00") and lines["S2"]["due_at"].endswith("-04:00")
    assert lines["F1"]["due_at"].endswith("-04:00") and lines["F2"]["due_at"].endswith("-05:00")


def test_as_of_defaults_to_the_last_second_of_the_year_and_naive_means_local() -> None:
    b = LedgerBuilder()
    b.unit("a")
    b.task("T1", "a", due=eod(2025, 12, 31))
    scheme = make_scheme()
    assert score(b.inputs(), scheme, year=2025).document()["as_of"] == "2025-12-31T23:59:59+08:00"
    naive = score(b.inputs(), scheme, year=2025, as_of=datetime(2025, 12, 31, 23, 59, 59)).document()
    assert naive["as_of"] == "2025-12-31T23:59:59+08:00" and naive["units"][0]["timeliness_max"] == 40
    utc = score(b.inputs(), scheme, year=2025, as_of=datetime.fromisoformat("2025-12-31T15:59:58+00:00"))
    assert utc.document()["as_of"] == "2025-12-31T23:59:58+08:00" and utc.timeliness_max[0] == 0


def test_document_shape() -> None:
    b = LedgerBuilder()
    b.unit("a", name="发改局")
    scheme = make_scheme()
    a = score(b.inputs(), scheme, year=2025)
    doc = a.document()
    assert list(doc) == ["year", "scheme", "as_of", "interim", "calendar_warnings", "units"]
    assert doc["interim"] is False
    assert list(doc["units"][0]) == UNIT_KEYS
    assert list(a.document(include_breakdown=False)["units"][0]) == UNIT_KEYS[:-1]
    assert list(doc["units"][0]["breakdown"]) == [
        "tasks",
        "metrics",
        "errors",
        "incentives",
        "accountability",
        "caps",
    ]
    assert a.breakdown("a") == doc["units"][0]["breakdown"]
    assert a.unit_result("a") == doc["units"][0]
    with pytest.raises(InvalidArgument):
        a.breakdown("zz")


def test_empty_inputs_score_to_an_empty_document() -> None:
    a = score(Inputs(units=UnitTable([], [], [])), make_scheme(), year=2025)
    assert a.document()["units"] == []


def test_breakdowns_add_up_to_the_totals() -> None:
    scheme = make_scheme(
        [
            metric("rate", kind="ratio", rule="proportional", target=0.75, points=20),
            metric("days", rule="linear", floor=30, target=60, applies_to=["department"]),
        ],
        errors={"cap": 1.2},
    )
    b = LedgerBuilder()
    for u, c in [("a", "department"), ("b", "department"), ("t", "township")]:
        b.unit(u, c)
    b.task("T1", "a", due=eod(2025, 3, 3), reported=at(2025, 3, 5, 10), co=("b", "t"), priority="important")
    b.task("T2", "a", due=eod(2025, 5, 6), co=("t",))
    b.task("T3", "b", due=eod(2025, 7, 1), reported=at(2025, 7, 1))
    b.tolerance("R1", "t", "task", "T2", "mitigate", date(2025, 5, 10))
    b.reading("a", "rate", "2025", num=36, den=50)
    b.reading("b", "days", "2025-03", 20)
    b.reading("b", "days", "2025-09", 25)
    b.error("E1", "a", date(2025, 4, 1), "grave")
    b.error("E2", "a", date(2025, 4, 2), "general")
    b.incentive("I1", "t", date(2025, 9, 1), "provincial")
    b.accountable("A1", "b", date(2025, 9, 1), "interview")
    for u in run(b, scheme).values():
        bd = u["breakdown"]
        assert sum(t["points"] for t in bd["tasks"]) == pytest.approx(u["timeliness_earned"], abs=1e-9)
        assert sum(m["earned"] for m in bd["metrics"]) == pytest.approx(u["metrics_earned"], abs=1e-9)
        assert sum(m["max"] for m in bd["metrics"]) == pytest.approx(u["metrics_max"], abs=1e-9)
        for part, key in [
            ("errors", "error_deduction"),
            ("incentives", "bonus"),
            ("accountability", "accountability_deduction"),
        ]:
            cap = bd["caps"][part]
            assert sum(x["points"] for x in bd[part]) == pytest.approx(cap["sum"], abs=1e-9)
            assert cap["applied"] == min(cap["sum"], cap["cap"]) == u[key]
        asked = u["timeliness_max"] + u["metrics_max"]
        base = 100 * (u["timeliness_earned"] + u["metrics_earned"]) / asked if asked else 100
        assert u["base"] == pytest.approx(base, abs=1e-9)
        total = max(0.0, base + u["bonus"] - u["error_deduction"] - u["accountability_deduction"])
        assert u["total"] == round_total(total)


def test_totals_are_rounded_in_bulk_exactly_as_one_by_one() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from services.scoring.domain import _round_totals

    ties = [k / 1000 for k in range(0, 200_000, 5)]  # every x.xx5 up to 200, and the exact hundredths
    values = np.array(
        [*ties, 2.675, 99.895, 90.24999999999999, 1e-12, 0.0, 100.0 - 0.35 * 0.3], dtype=np.float64
    )
    assert _round_totals(values).tolist() == [round_total(float(x)) for x in values]

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), max_size=50))
    def bulk_equals_one_by_one(xs: list[float]) -> None:
        got = _round_totals(np.array(xs, dtype=np.float64)).tolist()
        assert got == [round_total(x) for x in xs]

    bulk_equals_one_by_one()
