"""The kernel's metric parts (SCORING.md §5): annual values per unit against targets and floors."""

from __future__ import annotations

import numpy as np

from services.common.errors import InvalidArgument
from services.common.scheme import Metric, Scheme
from services.scoring.columns import Inputs, UnitTable
from services.scoring.result import MetricPart

SLACK = 1e-9

_MET, _BELOW, _MISSING, _NOT_APPLICABLE = 0, 1, 2, 3


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


def metric_parts(inputs: Inputs, scheme: Scheme, *, year: int) -> list[MetricPart]:
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
                    f"目标记录 {inputs.units.ids[u]}/{metric.id}/{year}：{problem[1]}",
                )
    return target, floor, own
