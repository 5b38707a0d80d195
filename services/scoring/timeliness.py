"""The kernel's timeliness part (SCORING.md §4): each counted task's weight and credit, per unit's points."""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np

from services.common.calendar import WorkCalendar
from services.common.scheme import Scheme, Timeliness
from services.common.timeutil import NO_TIME, epoch_seconds, local_days
from services.scoring.columns import Inputs, TaskRows
from services.scoring.result import TaskPart
from services.scoring.tolerance_rules import (
    apply_decisions,
    chosen_tolerances,
    match_tolerances,
    refuse_unknown,
)


def _weighted_rows(
    tk: TaskRows, rules: Timeliness, tz: tzinfo, *, year: int, as_of: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the tasks counted for year as of as_of with a positive weight, and their weights."""
    # "due_at within year Y (local dates)" is the same as: from Y-01-01 00:00 local, before Y+1-01-01.
    year_from = epoch_seconds(datetime(year, 1, 1, tzinfo=tz))
    year_before = epoch_seconds(datetime(year + 1, 1, 1, tzinfo=tz))
    due_all = tk.due_at
    counted_mask = (due_all >= year_from) & (due_all < year_before) & (due_all <= as_of)
    counted_mask &= (tk.cancelled_at > as_of) | (tk.cancelled_at == NO_TIME)

    # Weight per (priority, role) from one table: index 2 × priority code + is_lead.
    names = tk.priority_names
    table = np.array([rules.priority_weights.get(name, np.nan) for name in names], dtype=np.float64)
    role_table = np.empty(2 * len(names))
    role_table[0::2], role_table[1::2] = table * rules.co_unit_weight, table
    rows = np.flatnonzero(counted_mask)
    codes = tk.priority[rows]
    if np.isnan(table).any():
        _unknown_priorities(tk, rows, codes, table)
    weight = role_table[2 * codes + tk.is_lead[rows]]
    if not (weight > 0).all():
        keep = weight > 0
        rows, weight = rows[keep], weight[keep]
    return rows, weight


def _report_credit(
    tk: TaskRows, rows: np.ndarray, rules: Timeliness, cal: WorkCalendar, tz: tzinfo, *, as_of: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the credit its report earns before tolerances, its working days late, whether reported."""
    due, reported = tk.due_at[rows], tk.reported_at[rows]
    has_report = (reported <= as_of) & (reported != NO_TIME)
    late = has_report & (reported > due)
    credit = has_report.astype(np.float64)
    late_days = has_report.astype(np.int64) - 1
    if late.any():
        late_rows = np.flatnonzero(late)
        between = cal.working_days_between_many(
            local_days(due[late_rows], tz).astype("datetime64[D]"),
            local_days(reported[late_rows], tz).astype("datetime64[D]"),
        )
        late_days[late_rows] = np.maximum(1, between)
        credit[late_rows] = np.maximum(0.0, 1.0 - rules.late_penalty_per_working_day * late_days[late_rows])
        # Past the `latest` cut-off (only while the due is the computed one, SCORING.md §2/§4): nothing.
        latest = tk.latest_at[rows]
        credit[late & (latest != NO_TIME) & (reported > latest)] = 0.0
    return credit, late_days, has_report


def timeliness_part(
    inputs: Inputs, scheme: Scheme, cal: WorkCalendar, *, year: int, as_of: int, decisions: np.ndarray
) -> TaskPart:
    """Each unit's timeliness points: the weighted mean credit of its counted tasks, after tolerances."""
    tk, n = inputs.tasks, len(inputs.units)
    tz, rules = scheme.tz, scheme.timeliness
    rows, weight = _weighted_rows(tk, rules, tz, year=year, as_of=as_of)
    units = tk.unit[rows]
    credit, late_days, has_report = _report_credit(tk, rows, rules, cal, tz, as_of=as_of)
    tolerance = match_tolerances(
        units, tk.task_id, chosen_tolerances(inputs.tolerances, "task"), n, id_rows=rows
    )
    tolerated = np.flatnonzero(tolerance >= 0)
    if tolerated.size:
        credit[tolerated] = apply_decisions(
            credit[tolerated], decisions[tolerance[tolerated]], scheme.error_reports.mitigation_factor
        )

    sum_w = np.bincount(units, weights=weight, minlength=n)
    sum_wc = np.bincount(units, weights=weight * credit, minlength=n)
    counted = np.bincount(units, minlength=n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        earned = np.where(counted, rules.points * sum_wc / sum_w, 0.0)
    return TaskPart(
        rows=rows,
        weight=weight,
        credit=credit,
        late_days=late_days,
        reported=np.where(has_report, tk.reported_at[rows], NO_TIME),
        tolerance=tolerance,
        sum_w=sum_w,
        earned=earned,
        max=np.where(counted, rules.points, 0.0),
    )


def _unknown_priorities(tk: TaskRows, rows: np.ndarray, codes: np.ndarray, table: np.ndarray) -> None:
    """SchemeInvalid naming each priority of a counted task that the scheme has no weight for."""
    used = np.flatnonzero(np.isnan(table[codes]))
    if used.size:
        refuse_unknown(
            ((tk.priority_names[codes[k]], str(tk.task_id[rows[k]])) for k in used),
            key="timeliness.priority_weights",
            noun="优先级",
            record="任务",
        )
