"""The scoring kernel: score() adds the parts (SCORING.md §4–§8), rounds, ranks and grades (§10); no I/O."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np

from services.common.calendar import WorkCalendar
from services.common.scheme import Scheme
from services.common.timeutil import NO_TIME, epoch_seconds
from services.scoring.columns import (
    AccountabilityRows,
    ErrorRows,
    IncentiveRows,
    Inputs,
    ReadingRows,
    TargetRows,
    TaskRows,
    ToleranceRows,
    UnitTable,
    factorize,
)
from services.scoring.metric_scores import SLACK, metric_parts
from services.scoring.record_scores import accountability_part, error_part, incentive_part
from services.scoring.result import GRADES, STATUSES, Assessment, Detail
from services.scoring.timeliness import timeliness_part
from services.scoring.tolerance_rules import decision_codes

__all__ = [
    "GRADES",
    "NO_TIME",
    "SLACK",
    "STATUSES",
    "AccountabilityRows",
    "Assessment",
    "ErrorRows",
    "IncentiveRows",
    "Inputs",
    "ReadingRows",
    "TargetRows",
    "TaskRows",
    "ToleranceRows",
    "UnitTable",
    "factorize",
    "round_total",
    "score",
]

_EXCELLENT, _GOOD, _FAIR, _POOR = 0, 1, 2, 3
_CENT = Decimal("0.01")


def round_total(x: float) -> float:
    """Two decimals, half away from zero, on the shortest decimal that reads back as x."""
    return float(Decimal(repr(float(x))).quantize(_CENT, rounding=ROUND_HALF_UP)) + 0.0


def _round_totals(total: np.ndarray) -> np.ndarray:
    """round_total of each (non-negative) total; only totals within reach of a tie take the exact path."""
    scaled = total * 100.0
    out = np.floor(scaled + 0.5) / 100.0
    # Away from a tie, the float product cannot cross the .5 boundary, and k / 100 is correctly
    # rounded, so it is the same float as the decimal rounding gives.
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near).tolist():
        out[i] = round_total(float(total[i]))
    return out + 0.0


def _ranks_and_grades(
    units: UnitTable, veto: np.ndarray, total: np.ndarray, scheme: Scheme
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rank within category (vetoed units after the others), grade codes, categories in first-seen order."""
    categories = list(dict.fromkeys(units.categories))
    category = np.fromiter((categories.index(c) for c in units.categories), dtype=np.int64, count=len(units))
    rank = np.zeros(len(units), dtype=np.int64)
    quota = np.zeros(len(units), dtype=np.int64)
    g = scheme.grades
    for c in range(len(categories)):
        members = np.flatnonzero(category == c)
        clean = members[~veto[members]]
        for group, offset in ((clean, 0), (members[veto[members]], len(clean))):
            descending = np.sort(-total[group])
            rank[group] = offset + np.searchsorted(descending, -total[group], "left") + 1
        # Decimal, so that a quota of 0.29 of 100 units is 29, not floor(28.999999999999996).
        quota[members] = max(
            1, int((Decimal(repr(g.excellent_quota)) * len(members)).to_integral_value(ROUND_FLOOR))
        )
    grade = np.where(
        veto,
        _POOR,
        np.where(
            (total >= g.excellent_min) & (rank <= quota),
            _EXCELLENT,
            np.where(total >= g.good_min, _GOOD, np.where(total >= g.pass_min, _FAIR, _POOR)),
        ),
    )
    return rank, grade, categories


def _calendar_warnings(year: int, cal: WorkCalendar) -> tuple[int, ...]:
    probe = WorkCalendar(notices=cal.notices)
    probe.is_working_day(date(year, 1, 1))
    return tuple(sorted(probe.uncovered_years | cal.uncovered_years))


def score(inputs: Inputs, scheme: Scheme, *, year: int, as_of: datetime | None = None) -> Assessment:
    """Score every unit of inputs for year under scheme as of as_of (default Y-12-31 23:59:59 local)."""
    tz = scheme.tz
    if as_of is None:
        as_of = datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
    elif as_of.tzinfo is None or as_of.utcoffset() is None:
        as_of = as_of.replace(tzinfo=tz)
    cutoff = epoch_seconds(as_of)
    cal = scheme.calendar()
    decisions = decision_codes(inputs.tolerances)

    tasks = timeliness_part(inputs, scheme, cal, year=year, as_of=cutoff, decisions=decisions)
    metrics = metric_parts(inputs, scheme, year=year)
    errors = error_part(inputs, scheme, year=year, decisions=decisions)
    incentives = incentive_part(inputs, scheme, year=year)
    accountability, row_veto, veto = accountability_part(inputs, scheme, year=year)

    n = len(inputs.units)
    metrics_earned, metrics_max = np.zeros(n), np.zeros(n)
    for part in metrics:
        metrics_earned = metrics_earned + part.earned
        metrics_max = metrics_max + part.max
    maximum = tasks.max + metrics_max
    nothing = maximum == 0
    base = np.where(nothing, 100.0, 100.0 * (tasks.earned + metrics_earned) / np.where(nothing, 1.0, maximum))
    total = np.maximum(0.0, base + incentives.applied - errors.applied - accountability.applied)
    rounded = _round_totals(total)
    rank, grade, categories = _ranks_and_grades(inputs.units, veto, rounded, scheme)
    position = {c: i for i, c in enumerate(categories)}
    category_position = np.fromiter((position[c] for c in inputs.units.categories), dtype=np.int64, count=n)
    id_order = np.argsort(np.asarray(inputs.units.ids, dtype=object), kind="stable")
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[id_order] = np.arange(n)
    order = np.lexsort((id_rank, rank, category_position)).tolist()

    return Assessment(
        units=inputs.units,
        year=year,
        scheme=scheme,
        as_of=as_of.astimezone(tz),
        calendar_warnings=_calendar_warnings(year, cal),
        timeliness_earned=tasks.earned,
        timeliness_max=tasks.max,
        metrics_earned=metrics_earned,
        metrics_max=metrics_max,
        base=base,
        bonus=incentives.applied,
        error_deduction=errors.applied,
        accountability_deduction=accountability.applied,
        veto=veto,
        total=total,
        total_rounded=rounded,
        rank=rank,
        grade=np.array([GRADES[g] for g in grade], dtype=object),
        nothing_assessed=nothing,
        order=np.asarray(order, dtype=np.int64),
        tasks_counted=len(tasks.rows),
        readings_of_year=int(np.count_nonzero(inputs.readings.bounds[0] == year)),
        _detail=Detail(inputs, tasks, metrics, errors, incentives, accountability, row_veto, tz),
    )
