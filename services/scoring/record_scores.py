"""The kernel's record parts (SCORING.md §6–§8): error deductions, incentives, accountability and veto."""

from __future__ import annotations

from datetime import date

import numpy as np

from services.common.scheme import Scheme
from services.common.timeutil import day_number
from services.scoring.columns import Inputs
from services.scoring.result import ErrorPart, RecordPart
from services.scoring.tolerance_rules import (
    EXEMPT,
    MITIGATE,
    NO_DECISION,
    chosen_tolerances,
    lookup,
    match_tolerances,
)


def _in_year(days: np.ndarray, year: int) -> np.ndarray:
    d = days.astype(np.int64)
    return (d >= day_number(date(year, 1, 1))) & (d <= day_number(date(year, 12, 31)))


def error_part(inputs: Inputs, scheme: Scheme, *, year: int, decisions: np.ndarray) -> ErrorPart:
    er, n, rules = inputs.errors, len(inputs.units), scheme.error_reports
    rows = np.flatnonzero(_in_year(er.date, year))
    nominal = lookup(
        er.severity[rows],
        rules.deductions,
        key="errors.deductions",
        noun="严重程度",
        record="差错通报",
        ids=er.id[rows],
    )
    units = er.unit[rows]
    tolerance = match_tolerances(units, er.id[rows], chosen_tolerances(inputs.tolerances, "error_report"), n)
    decision = np.where(
        tolerance >= 0, decisions[np.maximum(tolerance, 0)] if len(decisions) else 0, NO_DECISION
    )
    points = np.where(
        er.voided[rows] | (decision == EXEMPT),
        0.0,
        np.where(decision == MITIGATE, nominal * rules.mitigation_factor, nominal),
    )
    total = np.bincount(units, weights=points, minlength=n)
    return ErrorPart(rows, nominal, points, tolerance, total, np.minimum(rules.cap, total))


def incentive_part(inputs: Inputs, scheme: Scheme, *, year: int) -> RecordPart:
    rec, n = inputs.incentives, len(inputs.units)
    rows = np.flatnonzero(_in_year(rec.date, year))
    points = lookup(
        rec.level[rows],
        scheme.incentives.points,
        key="incentives.points",
        noun="level",
        record="incentive",
        ids=rec.id[rows],
    )
    total = np.bincount(rec.unit[rows], weights=points, minlength=n)
    return RecordPart(rows, points, total, np.minimum(scheme.incentives.cap, total))


def accountability_part(
    inputs: Inputs, scheme: Scheme, *, year: int
) -> tuple[RecordPart, np.ndarray, np.ndarray]:
    """The deductions, each row's veto flag, and veto per unit."""
    rec, n, kinds = inputs.accountability, len(inputs.units), scheme.accountability.kinds
    rows = np.flatnonzero(_in_year(rec.date, year))
    kind = rec.kind[rows]
    points = lookup(
        kind,
        {k: v.deduction for k, v in kinds.items()},
        key="accountability.kinds",
        noun="问责种类",
        record="问责记录",
        ids=rec.id[rows],
    )
    row_veto = np.zeros(len(rows), dtype=bool)
    for name, spec in kinds.items():
        if spec.veto:
            row_veto |= kind == name
    # An upheld appeal voids the record: it deducts nothing and sets no veto.
    voided = rec.voided[rows]
    points = np.where(voided, 0.0, points)
    row_veto &= ~voided
    units = rec.unit[rows]
    total = np.bincount(units, weights=points, minlength=n)
    veto = np.bincount(units, weights=row_veto, minlength=n) > 0
    return RecordPart(rows, points, total, np.minimum(scheme.accountability.cap, total)), row_veto, veto
