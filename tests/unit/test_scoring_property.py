"""Property: on random ledgers and schemes the vectorised kernel equals the one oracle (tests/oracle)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.common.scheme import Scheme
from services.scoring.domain import score

from .scoring_builders import (
    LedgerBuilder,
    assert_same_document,
    base_scheme_doc,
    reference_document,
    scheme_from,
)

ZONES = ["Asia/Shanghai", "Asia/Shanghai", "Europe/Berlin", "America/New_York"]
CATEGORIES = ["department", "township"]
PRIORITIES = ["normal", "important", "info"]
SEVERITIES = ["general", "serious", "grave"]
LEVELS = ["national", "provincial", "municipal", "county"]
KINDS = ["interview", "criticism", "disciplinary"]
DST_DAYS = {
    2025: [date(2025, 3, 9), date(2025, 3, 30), date(2025, 10, 26), date(2025, 11, 2)],
    2026: [date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)],
}


@st.composite
def metrics(draw: st.DrawFn, index: int, unit_ids: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ratio", "value"]))
    rule = draw(st.sampled_from(["threshold", "proportional", "linear"]))
    direction = draw(st.sampled_from(["min", "max"]))
    target = draw(st.sampled_from([0.5, 0.75, 1.0, 2.0, 10.0]))
    m: dict[str, Any] = {
        "id": f"m{index}",
        "name": f"指标{index}",
        "kind": kind,
        "direction": direction,
        "rule": rule,
        "target": target,
        "points": draw(st.sampled_from([0, 5, 10, 20])),
    }
    if kind == "value":
        m["aggregate"] = draw(st.sampled_from(["sum", "mean", "max", "min", "last"]))
    if rule == "linear":
        width = draw(st.sampled_from([0.25, 1.0, 5.0]))
        m["floor"] = target - width if direction == "min" else target + width
    scope = draw(st.lists(st.sampled_from(CATEGORIES + unit_ids), max_size=2, unique=True))
    if scope:
        m["applies_to"] = scope
    return m


@st.composite
def cases(draw: st.DrawFn) -> tuple[Scheme, LedgerBuilder, int, datetime | None]:
    year = draw(st.sampled_from([2025, 2026]))
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    unit_ids = [f"u{i}" for i in range(draw(st.integers(1, 7)))]

    doc = base_scheme_doc()
    doc["scheme"]["timezone"] = str(tz)
    doc["calendar"]["extra_holidays"] = draw(
        st.lists(st.dates(date(year, 1, 1), date(year, 12, 31)), max_size=3, unique=True)
    )
    doc["timeliness"].update(
        points=draw(st.sampled_from([0, 10, 40])),
        late_penalty_per_working_day=draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.5])),
        co_unit_weight=draw(st.sampled_from([0.0, 0.5, 1.0])),
        priority_weights={
            "normal": draw(st.sampled_from([0.0, 1.0, 1.5])),
            "important": draw(st.sampled_from([0.5, 2.0])),
            "info": 0.0,
        },
    )
    doc["errors"].update(
        cap=draw(st.sampled_from([0, 1, 10])), mitigation_factor=draw(st.sampled_from([0, 0.5, 1]))
    )
    doc["incentives"]["cap"] = draw(st.sampled_from([0, 2, 5]))
    doc["accountability"] = {
        "cap": draw(st.sampled_from([0, 3, 15])),
        "kinds": {
            "interview": {"deduction": 1.0},
            "criticism": {"deduction": draw(st.sampled_from([0.0, 2.5]))},
            "disciplinary": {"deduction": 5.0, "veto": draw(st.booleans())},
        },
    }
    pass_min, good_min, excellent_min = sorted(
        draw(st.lists(st.sampled_from([0, 50, 60, 80, 90, 100]), min_size=3, max_size=3))
    )
    doc["grades"] = {
        "excellent_min": excellent_min,
        "good_min": good_min,
        "pass_min": pass_min,
        "excellent_quota": draw(st.sampled_from([0.0, 0.2, 0.29, 0.5, 1.0])),
    }
    n_metrics = draw(st.integers(0, 3))
    if n_metrics:
        doc["metrics"] = [draw(metrics(i, unit_ids)) for i in range(n_metrics)]
    scheme = scheme_from(doc)

    b = LedgerBuilder()
    for u in unit_ids:
        b.unit(u, draw(st.sampled_from(CATEGORIES)))

    # Days near the year's ends, the cutoff, Golden Week and both zones' DST changes, where local
    # dates, working days and the counted set go wrong; and any day of the year.
    anchors = [date(year, 1, 1), date(year, 12, 31), date(year, 10, 1), *DST_DAYS[year]]

    def instant(near: date | None = None) -> datetime:
        day = draw(st.sampled_from([*anchors, *([near] if near else []), None]))
        if day is None:
            day = date(year, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
        day += timedelta(days=draw(st.integers(-3, 3)))
        seconds = draw(
            st.sampled_from([0, 1, 3600 + 1800, 2 * 3600 + 1800, 12 * 3600, 86399]) | st.integers(0, 86399)
        )
        return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(seconds=seconds)

    as_of = instant() if draw(st.booleans()) else None
    cutoff = as_of or datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
    task_ids: list[tuple[str, list[str]]] = []
    for t in range(draw(st.integers(0, 25))):
        lead = draw(st.sampled_from(unit_ids))
        co = draw(
            st.lists(st.sampled_from([u for u in unit_ids if u != lead] or [lead]), max_size=2, unique=True)
        )
        co = [c for c in co if c != lead]
        due = instant(cutoff.date())
        reported = draw(
            st.none()
            | st.just(due)
            | st.integers(-3 * 86400, 30 * 86400).map(lambda s, due=due: due + timedelta(seconds=s))
        )
        cancelled = draw(st.sampled_from([None, None, None, "instant", "cutoff"]))
        # Cancelled exactly at the cutoff is the boundary SCORING §4 draws ("at or before").
        cancelled = (
            instant(cutoff.date()) if cancelled == "instant" else cutoff if cancelled == "cutoff" else None
        )
        extended = draw(st.booleans())
        # A `latest` cut-off a few hours after the due, reached or not by a late report (SCORING.md §4).
        # Only on a task that was not extended: an extension's due is no longer a computed one, so `latest`
        # no longer applies (§2) — the run's inputs give such a task no cut-off (inputs.latest_instants),
        # and no ledger can hand the oracle an extended task that still has one.
        after_due = st.integers(0, 3 * 86400).map(lambda s, due=due: due + timedelta(seconds=s))
        latest = None if extended else draw(st.none() | after_due)
        b.task(
            f"T{t}",
            lead,
            due=due,
            reported=reported,
            cancelled=cancelled,
            priority=draw(st.sampled_from(PRIORITIES)),
            co=tuple(co),
            latest=latest,
            extended=extended,
            verified=draw(st.booleans()),
        )
        task_ids.append((f"T{t}", [lead, *co]))

    metric_ids = [m.id for m in scheme.metrics] * 3 + ["unknown_metric"]
    # Few units and metrics per reading keep several readings on one (unit, metric), so that
    # aggregates, ratios and ties between periods ending on the same day actually happen.
    reading_units = unit_ids[:2]
    for _ in range(draw(st.integers(0, 30))):
        month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
        period = draw(
            st.sampled_from(
                [
                    f"{year}",
                    f"{year}-12",
                    f"{year}-12-31",
                    f"{year}-{month:02d}",
                    f"{year}-{month:02d}-{day:02d}",
                    f"{year - 1}",
                    f"{year + 1}-01",
                ]
            )
        )
        unit, mid = draw(st.sampled_from(reading_units)), draw(st.sampled_from(metric_ids))
        if draw(st.booleans()):
            # Values on and a hair either side of the metric's target, as well as plain ones.
            target = scheme.metric(mid).target if mid != "unknown_metric" else 1.0
            near = [target, target - 5e-10, target + 5e-10]
            plain = [-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 7.5, 12.0]
            b.reading(unit, mid, period, draw(st.sampled_from(plain + near)))
        else:
            b.reading(
                unit,
                mid,
                period,
                num=draw(st.sampled_from([0.0, 1.0, 3.0])),
                den=draw(st.sampled_from([0.0, 1.0, 2.0, 4.0])),
            )

    day_span = st.sampled_from(
        [date(year - 1, 12, 31), date(year, 1, 1), date(year, 12, 31), date(year + 1, 1, 1)]
    ) | st.builds(lambda k: date(year, 1, 1) + timedelta(days=k), st.integers(0, 364))
    error_ids: list[tuple[str, str]] = []
    for e in range(draw(st.integers(0, 10))):
        unit = draw(st.sampled_from(unit_ids))
        b.error(f"E{e}", unit, draw(day_span), draw(st.sampled_from(SEVERITIES)), voided=draw(st.booleans()))
        error_ids.append((f"E{e}", unit))
    for i in range(draw(st.integers(0, 6))):
        b.incentive(f"I{i}", draw(st.sampled_from(unit_ids)), draw(day_span), draw(st.sampled_from(LEVELS)))
    for i in range(draw(st.integers(0, 6))):
        b.accountable(f"A{i}", draw(st.sampled_from(unit_ids)), draw(day_span), draw(st.sampled_from(KINDS)))
    decision_days = st.sampled_from([date(year, 3, 1), date(year, 3, 1), date(year, 6, 1)])
    # Decisions crowd onto the first few targets so that later ones overrule earlier ones.
    for i in range(draw(st.integers(0, 8))):
        if task_ids and draw(st.booleans()):
            task, involved = draw(st.sampled_from(task_ids[:3]))
            unit = draw(st.sampled_from(involved))
            b.tolerance(
                f"R{i}",
                unit,
                "task",
                task,
                draw(st.sampled_from(["exempt", "mitigate"])),
                draw(decision_days),
            )
        elif error_ids:
            err, unit = draw(st.sampled_from(error_ids[:3]))
            b.tolerance(
                f"R{i}",
                unit,
                "error_report",
                err,
                draw(st.sampled_from(["exempt", "mitigate"])),
                draw(decision_days),
            )
    return scheme, b, year, as_of


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(cases())
def test_kernel_equals_the_reference(case: tuple[Scheme, LedgerBuilder, int, datetime | None]) -> None:
    scheme, b, year, as_of = case
    inputs = b.inputs()
    assessment = score(inputs, scheme, year=year, as_of=as_of)
    doc = assessment.document()
    ref = reference_document(inputs, scheme, year=year, as_of=as_of)
    assume(not ref["fragile"])
    assert_same_document(doc, ref, tol=1e-9)
    for u in doc["units"]:
        bd = u["breakdown"]
        lines = {(u["unit"], t["task"]): t for t in bd["tasks"]}
        assert set(lines) == {k for k in ref["task_lines"] if k[0] == u["unit"]}
        for key, line in lines.items():
            want = ref["task_lines"][key]
            assert abs(line["credit"] - want["credit"]) <= 1e-12 and line["weight"] == want["weight"]
            for field in ("late_working_days", "due_at", "reported_at", "tolerance", "verified", "extended"):
                assert line[field] == want[field], (key, field)
        assert abs(sum(t["points"] for t in bd["tasks"]) - u["timeliness_earned"]) <= 1e-9
        assert abs(sum(m["earned"] for m in bd["metrics"]) - u["metrics_earned"]) <= 1e-9
        assert abs(sum(m["max"] for m in bd["metrics"]) - u["metrics_max"]) <= 1e-9
        for part, key in [
            ("errors", "error_deduction"),
            ("incentives", "bonus"),
            ("accountability", "accountability_deduction"),
        ]:
            assert abs(sum(x["points"] for x in bd[part]) - bd["caps"][part]["sum"]) <= 1e-9
            assert bd["caps"][part]["applied"] == u[key]
