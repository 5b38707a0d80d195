"""The scoring kernel: SCORING.md §4–§8 and §10 as vectorised numpy over columns, with no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np

from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, InvalidArgument, SchemeInvalid
from services.common.scheme import Metric, Scheme
from services.common.timeutil import NO_TIME, day_number, epoch_seconds, local_days
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
from services.scoring.result import (
    GRADES,
    STATUSES,
    Assessment,
    Detail,
    ErrorPart,
    MetricPart,
    RecordPart,
    TaskPart,
)

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

SLACK = 1e-9

_MET, _BELOW, _MISSING, _NOT_APPLICABLE = 0, 1, 2, 3
_NO_DECISION, _EXEMPT, _MITIGATE = 0, 1, 2
_DECISIONS = {"exempt": _EXEMPT, "mitigate": _MITIGATE}
_EXCELLENT, _GOOD, _FAIR, _POOR = 0, 1, 2, 3
_CENT = Decimal("0.01")


# --- lookups ----------------------------------------------------------------------------------


def _lookup(
    values: np.ndarray, table: Mapping[str, float], *, key: str, noun: str, record: str, ids: np.ndarray
) -> np.ndarray:
    """table[value] for each value; SchemeInvalid naming every value the scheme does not know."""
    out = np.full(len(values), np.nan)
    known = np.zeros(len(values), dtype=bool)
    for name, number in table.items():
        hit = values == name
        out[hit] = number
        known |= hit
    if not known.all():
        _refuse_unknown(
            ((str(values[i]), str(ids[i])) for i in np.flatnonzero(~known)), key=key, noun=noun, record=record
        )
    return out


def _refuse_unknown(used: Iterable[tuple[str, str]], *, key: str, noun: str, record: str) -> None:
    """SchemeInvalid naming each (value, the first record using it) the scheme's key has no entry for."""
    unknown: dict[str, str] = {}
    for value, by in used:
        unknown.setdefault(value, by)
    raise SchemeInvalid(
        [
            FieldViolation(key, f'has no entry for {noun} "{v}" (used by {record} {r})')
            for v, r in unknown.items()
        ]
    )


def _chosen_tolerances(tol: ToleranceRows, target_type: str) -> dict[tuple[int, str], int]:
    """The decision that stands per (unit, target): the latest by date, ties to the later record."""
    chosen: dict[tuple[int, str], int] = {}
    if not len(tol):
        return chosen
    order = np.lexsort((np.arange(len(tol)), tol.date.astype(np.int64)))
    for i in order[tol.target_type[order] == target_type]:
        chosen[(int(tol.unit[i]), str(tol.target[i]))] = int(i)
    return chosen


def _match_tolerances(
    units: np.ndarray,
    ids: np.ndarray,
    chosen: Mapping[tuple[int, str], int],
    n_units: int,
    id_rows: np.ndarray | None = None,
) -> np.ndarray:
    """For each row (unit code, target id) the tolerance row that applies to it, -1 for none.

    Row k's id is ids[k], or ids[id_rows[k]] when id_rows is given (ids are then gathered only
    for the rows of units that have decisions).
    """
    out = np.full(len(units), -1, dtype=np.int64)
    if not chosen or not len(units):
        return out
    involved = np.zeros(n_units, dtype=bool)
    involved[[u for u, _ in chosen]] = True
    candidates = np.flatnonzero(involved[units])
    if not candidates.size:
        return out
    # Only the rows of units that have decisions are compared, one unit's rows per decision.
    order = candidates[np.argsort(units[candidates], kind="stable")]
    bounds = np.searchsorted(units[order], np.arange(n_units + 1), "left").tolist()
    for (u, target), row in chosen.items():
        segment = order[bounds[u] : bounds[u + 1]]
        segment_ids = ids[segment] if id_rows is None else ids[id_rows[segment]]
        out[segment[segment_ids == target]] = row
    return out


def _decision_codes(tol: ToleranceRows) -> np.ndarray:
    codes = np.zeros(len(tol), dtype=np.int64)
    for name, code in _DECISIONS.items():
        codes[tol.decision == name] = code
    if len(tol) and (codes == _NO_DECISION).any():
        bad = tol.decision[codes == _NO_DECISION][0]
        raise InvalidArgument("tolerances.decision", f'unknown decision "{bad}": must be exempt or mitigate')
    return codes


def _apply_decisions(credit: np.ndarray, decision: np.ndarray, mitigation_factor: float) -> np.ndarray:
    return np.where(
        decision == _EXEMPT,
        1.0,
        np.where(decision == _MITIGATE, 1.0 - (1.0 - credit) * mitigation_factor, credit),
    )


# --- the parts of the score -------------------------------------------------------------------


def _timeliness(
    inputs: Inputs, scheme: Scheme, cal: WorkCalendar, *, year: int, as_of: int, decisions: np.ndarray
) -> TaskPart:
    tk, n = inputs.tasks, len(inputs.units)
    tz, rules = scheme.tz, scheme.timeliness
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
    units = tk.unit[rows]

    due, reported = due_all[rows], tk.reported_at[rows]
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
    tolerance = _match_tolerances(
        units, tk.task_id, _chosen_tolerances(inputs.tolerances, "task"), n, id_rows=rows
    )
    tolerated = np.flatnonzero(tolerance >= 0)
    if tolerated.size:
        credit[tolerated] = _apply_decisions(
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
        reported=np.where(has_report, reported, NO_TIME),
        tolerance=tolerance,
        sum_w=sum_w,
        earned=earned,
        max=np.where(counted, rules.points, 0.0),
    )


def _unknown_priorities(tk: TaskRows, rows: np.ndarray, codes: np.ndarray, table: np.ndarray) -> None:
    """SchemeInvalid naming each priority of a counted task that the scheme has no weight for."""
    used = np.flatnonzero(np.isnan(table[codes]))
    if used.size:
        _refuse_unknown(
            ((tk.priority_names[codes[k]], str(tk.task_id[rows[k]])) for k in used),
            key="timeliness.priority_weights",
            noun="priority",
            record="task",
        )


def _applies(metric: Metric, units: UnitTable) -> np.ndarray:
    if not metric.applies_to:
        return np.ones(len(units), dtype=bool)
    names = set(metric.applies_to)
    return np.fromiter(
        (u in names or c in names for u, c in zip(units.ids, units.categories, strict=True)),
        dtype=bool,
        count=len(units),
    )


def _aggregate(
    kind: str | None, units: np.ndarray, values: np.ndarray, end: np.ndarray, n: int
) -> np.ndarray:
    """The annual value per unit of a value metric (nan where a unit has no reading)."""
    count = np.bincount(units, minlength=n)
    if kind in ("sum", "mean"):
        total = np.bincount(units, weights=values, minlength=n)
        out = total if kind == "sum" else total / np.maximum(count, 1)
    elif kind == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, units, values)
    elif kind == "min":
        out = np.full(n, np.inf)
        np.minimum.at(out, units, values)
    else:
        # last: the latest period by its end date, ties to the later row; rows arrive in record order.
        order = np.lexsort((np.arange(len(units)), end, units))
        sorted_units = units[order]
        last_of_unit = (
            np.flatnonzero(np.r_[sorted_units[1:] != sorted_units[:-1], True]) if len(order) else order
        )
        out = np.full(n, np.nan)
        out[sorted_units[last_of_unit]] = values[order[last_of_unit]]
    return np.where(count > 0, out, np.nan)


def _rule_fraction(
    metric: Metric, v: np.ndarray, t: np.ndarray, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of the points earned, met) for annual values v, targets t and floors f (SCORING.md §5)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric.direction == "min":
            met = v >= t - SLACK
            if metric.rule == "threshold":
                frac = np.zeros_like(v)
            elif metric.rule == "proportional":
                frac = np.minimum(1.0, np.maximum(0.0, v) / t)
            else:
                frac = np.clip((v - f) / (t - f), 0.0, 1.0)
        else:
            met = v <= t + SLACK
            if metric.rule == "threshold":
                frac = np.zeros_like(v)
            elif metric.rule == "proportional":
                frac = np.where(v <= 0, 1.0, np.minimum(1.0, t / v))
            else:
                frac = np.clip((f - v) / (f - t), 0.0, 1.0)
    # Meeting the target within the slack earns the full points, so met always means earned = max.
    return np.where(met, 1.0, frac), met


def _metrics(inputs: Inputs, scheme: Scheme, *, year: int) -> list[MetricPart]:
    rd, n = inputs.readings, len(inputs.units)
    period_year, end = rd.bounds
    in_year = period_year == year
    parts: list[MetricPart] = []
    for metric in scheme.metrics:
        applies = _applies(metric, inputs.units)
        rows = np.flatnonzero(in_year & (rd.metric == metric.id))
        rows = rows[applies[rd.unit[rows]]]
        status = np.full(n, _MISSING, dtype=np.int64)
        if metric.kind == "ratio":
            num, den = rd.numerator[rows], rd.denominator[rows]
            ok = np.isfinite(num) & np.isfinite(den)
            units = rd.unit[rows][ok]
            has = np.bincount(units, minlength=n) > 0
            sum_num = np.bincount(units, weights=num[ok], minlength=n)
            sum_den = np.bincount(units, weights=den[ok], minlength=n)
            status[has & (sum_den == 0)] = _NOT_APPLICABLE
            scored = has & (sum_den != 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(scored, sum_num / np.where(scored, sum_den, 1.0), np.nan)
        else:
            vals = rd.value[rows]
            ok = np.isfinite(vals)
            value = _aggregate(metric.aggregate, rd.unit[rows][ok], vals[ok], end[rows][ok], n)
            scored = ~np.isnan(value)
        target, floor, own = _unit_targets(inputs, metric, applies, year=year)
        frac, met = _rule_fraction(metric, value, target, floor)
        status[scored] = np.where(met[scored], _MET, _BELOW)
        status[~applies] = _NOT_APPLICABLE
        earned = np.where(applies & scored, metric.points * frac, 0.0)
        maximum = np.where(applies & (status != _NOT_APPLICABLE), metric.points, 0.0)
        parts.append(
            MetricPart(
                metric, applies, np.where(scored, value, np.nan), status, earned, maximum, target, floor, own
            )
        )
    return parts


def _unit_targets(
    inputs: Inputs, metric: Metric, applies: np.ndarray, *, year: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit the target and floor of metric in year, and whether they are the unit's own (a target record).

    A target record replaces the metric's target, and its floor where it gives one; the floor is
    the metric's otherwise, the target itself for rules without one.
    """
    n, tg = len(inputs.units), inputs.targets
    target = np.full(n, metric.target)
    floor = np.full(n, metric.floor if metric.floor is not None else metric.target)
    own = np.zeros(n, dtype=bool)
    rows = np.flatnonzero((tg.metric == metric.id) & (tg.year == year))
    if rows.size:
        units = tg.unit[rows]
        target[units] = tg.target[rows]
        given = ~np.isnan(tg.floor[rows])
        floor[units[given]] = tg.floor[rows][given]
        own[units] = True
        for u in units[applies[units]].tolist():
            problem = metric.unit_target_problem(
                target=float(target[u]), floor=float(floor[u]) if metric.rule == "linear" else None
            )
            if problem:
                raise InvalidArgument(
                    f"targets.{problem[0]}",
                    f"target record {inputs.units.ids[u]}/{metric.id}/{year}: {problem[1]}",
                )
    return target, floor, own


def _in_year(days: np.ndarray, year: int) -> np.ndarray:
    d = days.astype(np.int64)
    return (d >= day_number(date(year, 1, 1))) & (d <= day_number(date(year, 12, 31)))


def _errors(inputs: Inputs, scheme: Scheme, *, year: int, decisions: np.ndarray) -> ErrorPart:
    er, n, rules = inputs.errors, len(inputs.units), scheme.error_reports
    rows = np.flatnonzero(_in_year(er.date, year))
    nominal = _lookup(
        er.severity[rows],
        rules.deductions,
        key="errors.deductions",
        noun="severity",
        record="error report",
        ids=er.id[rows],
    )
    units = er.unit[rows]
    tolerance = _match_tolerances(
        units, er.id[rows], _chosen_tolerances(inputs.tolerances, "error_report"), n
    )
    decision = np.where(
        tolerance >= 0, decisions[np.maximum(tolerance, 0)] if len(decisions) else 0, _NO_DECISION
    )
    points = np.where(
        er.voided[rows] | (decision == _EXEMPT),
        0.0,
        np.where(decision == _MITIGATE, nominal * rules.mitigation_factor, nominal),
    )
    total = np.bincount(units, weights=points, minlength=n)
    return ErrorPart(rows, nominal, points, tolerance, total, np.minimum(rules.cap, total))


def _incentives(inputs: Inputs, scheme: Scheme, *, year: int) -> RecordPart:
    rec, n = inputs.incentives, len(inputs.units)
    rows = np.flatnonzero(_in_year(rec.date, year))
    points = _lookup(
        rec.level[rows],
        scheme.incentives.points,
        key="incentives.points",
        noun="level",
        record="incentive",
        ids=rec.id[rows],
    )
    total = np.bincount(rec.unit[rows], weights=points, minlength=n)
    return RecordPart(rows, points, total, np.minimum(scheme.incentives.cap, total))


def _accountability(
    inputs: Inputs, scheme: Scheme, *, year: int
) -> tuple[RecordPart, np.ndarray, np.ndarray]:
    """The deductions, each row's veto flag, and veto per unit."""
    rec, n, kinds = inputs.accountability, len(inputs.units), scheme.accountability.kinds
    rows = np.flatnonzero(_in_year(rec.date, year))
    kind = rec.kind[rows]
    points = _lookup(
        kind,
        {k: v.deduction for k, v in kinds.items()},
        key="accountability.kinds",
        noun="kind",
        record="accountability record",
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
    decisions = _decision_codes(inputs.tolerances)

    tasks = _timeliness(inputs, scheme, cal, year=year, as_of=cutoff, decisions=decisions)
    metrics = _metrics(inputs, scheme, year=year)
    errors = _errors(inputs, scheme, year=year, decisions=decisions)
    incentives = _incentives(inputs, scheme, year=year)
    accountability, row_veto, veto = _accountability(inputs, scheme, year=year)

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
