"""A scoring's result: the parts the kernel computed, and the result document with every point explained."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cached_property
from typing import Any

import numpy as np

from services.common.scheme import Metric, Scheme
from services.common.timeutil import iso_day, iso_many
from services.scoring.columns import Inputs, UnitTable
from services.scoring.run_parts import stored_parts
from services.scoring.task_lines import KEY, PART_LINES, Part, header

STATUSES = ("met", "below", "missing", "not_applicable")
GRADES = ("excellent", "good", "fair", "poor")


@dataclass(frozen=True)
class TaskPart:
    rows: np.ndarray  # counted rows of TaskRows
    weight: np.ndarray
    credit: np.ndarray
    late_days: np.ndarray  # L when late, 0 when on time, -1 when nothing was reported
    reported: np.ndarray  # the counting report, NO_TIME when none
    tolerance: np.ndarray  # row of ToleranceRows, -1 for none
    sum_w: np.ndarray  # per unit
    earned: np.ndarray
    max: np.ndarray


@dataclass(frozen=True)
class MetricPart:
    metric: Metric
    applies: np.ndarray  # per unit
    value: np.ndarray  # per unit, nan when missing or not applicable
    status: np.ndarray  # per unit, index into STATUSES
    earned: np.ndarray
    max: np.ndarray
    target: np.ndarray  # per unit, the target used
    floor: np.ndarray  # per unit, the floor used (linear rule)
    own_target: np.ndarray  # per unit, whether target (and floor) come from a target record


@dataclass(frozen=True)
class ErrorPart:
    rows: np.ndarray
    nominal: np.ndarray
    points: np.ndarray
    tolerance: np.ndarray
    sum: np.ndarray
    applied: np.ndarray


@dataclass(frozen=True)
class RecordPart:
    rows: np.ndarray
    points: np.ndarray
    sum: np.ndarray
    applied: np.ndarray


@dataclass(frozen=True)
class _TaskColumns:
    """The counted task rows as Python lists, so that building a million breakdown lines stays cheap."""

    task: list[str]
    lead: list[bool]
    priority: list[str]
    weight: list[float]
    credit: list[float]
    late: list[int]
    tolerance: list[int]
    due: list[int]
    due_iso: list[str | None]
    reported_iso: list[str | None]
    verified: list[bool]
    extended: list[bool]


class Detail:
    """Row-level parts kept for breakdowns, grouped by unit only when a breakdown is asked for."""

    def __init__(
        self,
        inputs: Inputs,
        tasks: TaskPart,
        metrics: list[MetricPart],
        errors: ErrorPart,
        incentives: RecordPart,
        accountability: RecordPart,
        accountability_veto: np.ndarray,
        tz: tzinfo,
    ) -> None:
        self.tz = tz
        self.inputs = inputs
        self.tasks = tasks
        self.metrics = metrics
        self.errors = errors
        self.incentives = incentives
        self.accountability = accountability
        self.accountability_veto = accountability_veto

    @staticmethod
    def _group(units: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(units, kind="stable")
        bounds = np.searchsorted(units[order], np.arange(n + 1), "left")
        return order, bounds

    @cached_property
    def task_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.tasks.unit[self.tasks.rows], len(self.inputs.units))

    @cached_property
    def task_columns(self) -> _TaskColumns:
        part, tk, tz = self.tasks, self.inputs.tasks, self.tz
        return _TaskColumns(
            task=tk.task_id.decode(part.rows).tolist(),
            lead=tk.is_lead[part.rows].tolist(),
            priority=tk.priorities(part.rows),
            weight=part.weight.tolist(),
            credit=part.credit.tolist(),
            late=part.late_days.tolist(),
            tolerance=part.tolerance.tolist(),
            due=tk.due_at[part.rows].tolist(),
            due_iso=iso_many(tk.due_at[part.rows], tz),
            reported_iso=iso_many(part.reported, tz),
            verified=tk.verified[part.rows].tolist(),
            extended=tk.extended[part.rows].tolist(),
        )

    @cached_property
    def error_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.errors.unit[self.errors.rows], len(self.inputs.units))

    @cached_property
    def incentive_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.incentives.unit[self.incentives.rows], len(self.inputs.units))

    @cached_property
    def accountability_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.accountability.unit[self.accountability.rows], len(self.inputs.units))


def _of_unit(groups: tuple[np.ndarray, np.ndarray], code: int) -> np.ndarray:
    order, bounds = groups
    return order[bounds[code] : bounds[code + 1]]


def _number(x: Any) -> float | None:
    f = float(x)
    return None if np.isnan(f) else f


@dataclass(frozen=True, eq=False)
class Assessment:
    """Per-unit results of one scoring (arrays indexed by unit code), with their explanations."""

    units: UnitTable
    year: int
    scheme: Scheme
    as_of: datetime
    calendar_warnings: tuple[int, ...]
    timeliness_earned: np.ndarray
    timeliness_max: np.ndarray
    metrics_earned: np.ndarray
    metrics_max: np.ndarray
    base: np.ndarray
    bonus: np.ndarray
    error_deduction: np.ndarray
    accountability_deduction: np.ndarray
    veto: np.ndarray
    total: np.ndarray  # full precision
    total_rounded: np.ndarray  # what is reported, ranked and graded
    rank: np.ndarray
    grade: np.ndarray
    nothing_assessed: np.ndarray
    order: np.ndarray  # unit codes in report order: category (first seen), rank, id
    tasks_counted: int  # task rows counted in the year by the cutoff (SCORING.md §4)
    readings_of_year: int  # indicator readings whose period lies in the year
    _detail: Detail = field(repr=False)

    @property
    def interim(self) -> bool:
        """Whether as_of is before the year's last second, local time (期中, SCORING.md notation)."""
        return self.as_of < datetime(self.year, 12, 31, 23, 59, 59, tzinfo=self.scheme.tz)

    def document(self, *, include_breakdown: bool = True) -> dict[str, Any]:
        """The result document of FORMATS.md without run, state and scheme_sha256."""
        return {
            "year": self.year,
            "scheme": self.scheme.id,
            "as_of": self.as_of.isoformat(),
            "interim": self.interim,
            "calendar_warnings": list(self.calendar_warnings),
            "units": [self._unit(int(i), include_breakdown) for i in self.order],
        }

    def stored_document(self) -> dict[str, Any]:
        """The document as a run keeps it: every breakdown without its task lines, those kept as columns in
        the parts of stored_parts(), read back by task_lines.expand_lines the same as document() writes them;
        under task_lines.KEY what reading them takes."""
        units = [self._unit(int(i), True, with_tasks=False) for i in self.order]
        d = self._detail
        tolerance = d.tasks.tolerance
        tol = d.inputs.tolerances
        used = np.unique(tolerance[tolerance >= 0]).tolist()
        return {
            "year": self.year,
            "scheme": self.scheme.id,
            "as_of": self.as_of.isoformat(),
            "interim": self.interim,
            "calendar_warnings": list(self.calendar_warnings),
            "units": units,
            KEY: header(
                zone=self.scheme.tz.key,
                priority_names=d.inputs.tasks.priority_names,
                tolerances={row: (str(tol.id[row]), str(tol.decision[row])) for row in used},
            ),
        }

    def stored_parts(self, part_lines: int = PART_LINES) -> Iterator[Part]:
        """The task lines of stored_document's units, part by part (run_parts.stored_parts)."""
        return stored_parts(self._detail, self.order, self.scheme.timeliness.points, part_lines)

    def unit_result(self, unit_id: str, *, include_breakdown: bool = True) -> dict[str, Any]:
        """One unit's entry of the result document."""
        return self._unit(self.units.code(unit_id), include_breakdown)

    def _unit(self, i: int, include_breakdown: bool, *, with_tasks: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unit": self.units.ids[i],
            "name": self.units.names[i],
            "category": self.units.categories[i],
            "timeliness_earned": float(self.timeliness_earned[i]),
            "timeliness_max": float(self.timeliness_max[i]),
            "metrics_earned": float(self.metrics_earned[i]),
            "metrics_max": float(self.metrics_max[i]),
            "base": float(self.base[i]),
            "bonus": float(self.bonus[i]),
            "error_deduction": float(self.error_deduction[i]),
            "accountability_deduction": float(self.accountability_deduction[i]),
            "veto": bool(self.veto[i]),
            "total": float(self.total_rounded[i]),
            "rank": int(self.rank[i]),
            "grade": str(self.grade[i]),
            "nothing_assessed": bool(self.nothing_assessed[i]),
        }
        if include_breakdown:
            out["breakdown"] = self._breakdown(i, with_tasks=with_tasks)
        return out

    def breakdown(self, unit_id: str) -> dict[str, Any]:
        """Every point of one unit explained (SCORING.md §10); the parts add up to its totals."""
        return self._breakdown(self.units.code(unit_id))

    def _breakdown(self, i: int, *, with_tasks: bool = True) -> dict[str, Any]:
        d = self._detail
        return {
            **({"tasks": self._task_lines(i)} if with_tasks else {}),
            "metrics": [
                {
                    "metric": p.metric.id,
                    "name": p.metric.name,
                    "kind": p.metric.kind,
                    "rule": p.metric.rule,
                    "direction": p.metric.direction,
                    "value": _number(p.value[i]),
                    "target": float(p.target[i]),
                    "floor": float(p.floor[i]) if p.metric.rule == "linear" else None,
                    "target_source": "target_record" if p.own_target[i] else "scheme",
                    "status": STATUSES[int(p.status[i])],
                    "earned": float(p.earned[i]),
                    "max": float(p.max[i]),
                }
                for p in d.metrics
                if p.applies[i]
            ],
            "errors": self._error_lines(i),
            "incentives": self._incentive_lines(i),
            "accountability": self._accountability_lines(i),
            "caps": {
                "errors": self._cap(d.errors.sum[i], self.scheme.error_reports.cap, self.error_deduction[i]),
                "incentives": self._cap(d.incentives.sum[i], self.scheme.incentives.cap, self.bonus[i]),
                "accountability": self._cap(
                    d.accountability.sum[i], self.scheme.accountability.cap, self.accountability_deduction[i]
                ),
            },
        }

    @staticmethod
    def _cap(total: float, cap: float, applied: float) -> dict[str, float]:
        return {"sum": float(total), "cap": float(cap), "applied": float(applied)}

    def _tolerance(self, row: int) -> dict[str, str] | None:
        if row < 0:
            return None
        tol = self._detail.inputs.tolerances
        return {"id": str(tol.id[row]), "decision": str(tol.decision[row])}

    def _task_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        col = d.task_columns
        sum_w = float(d.tasks.sum_w[i])
        points = self.scheme.timeliness.points
        ks = sorted(
            _of_unit(d.task_groups, i).tolist(), key=lambda k: (col.due[k], col.task[k], not col.lead[k])
        )
        return [
            {
                "task": col.task[k],
                "role": "lead" if col.lead[k] else "co",
                "priority": col.priority[k],
                "weight": col.weight[k],
                "due_at": col.due_iso[k],
                "reported_at": col.reported_iso[k],
                "late_working_days": None if col.late[k] < 0 else col.late[k],
                "credit": col.credit[k],
                "tolerance": self._tolerance(col.tolerance[k]),
                "points": points * (col.weight[k] * col.credit[k]) / sum_w,
                "verified": col.verified[k] if col.late[k] >= 0 else None,
                "extended": col.extended[k],
            }
            for k in ks
        ]

    def _error_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, er = d.errors, d.inputs.errors
        lines = [
            {
                "id": str(er.id[row]),
                "date": iso_day(er.date[row]),
                "category": str(er.category[row]),
                "severity": str(er.severity[row]),
                "voided": bool(er.voided[row]),
                "deduction": float(part.nominal[k]),
                "tolerance": self._tolerance(int(part.tolerance[k])),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.error_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))

    def _incentive_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, rec = d.incentives, d.inputs.incentives
        lines = [
            {
                "id": str(rec.id[row]),
                "date": iso_day(rec.date[row]),
                "level": str(rec.level[row]),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.incentive_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))

    def _accountability_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, rec = d.accountability, d.inputs.accountability
        lines = [
            {
                "id": str(rec.id[row]),
                "date": iso_day(rec.date[row]),
                "kind": str(rec.kind[row]),
                "voided": bool(rec.voided[row]),
                "veto": bool(d.accountability_veto[k]),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.accountability_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))
