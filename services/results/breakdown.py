"""A unit's score breakdown as rows to show: one model for the CLI's table, the console's page and Excel.

Built from a unit of the result document (FORMATS.md, as `result_to_json_dict` gives it): its counted
tasks, its indicators, and its bonus and deduction lines with Chinese labels, points and reasons, in one
order (差错通报, 激励, 问责, each by date then id, each kind followed by what its cap takes back; then the
容错 applied). Values stay as the document has them (numbers as numbers, instants as text): each renderer
formats them its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.common.vocabulary import (
    ACCOUNTABILITY_KINDS,
    ERROR_CATEGORIES,
    INCENTIVE_LEVELS,
    METRIC_STATUSES,
    PRIORITIES,
    RECORD_KIND_LABELS,
    SEVERITIES,
    TASK_ROLES,
    TOLERANCE_DECISIONS,
    label_of,
)

__all__ = ["RECORD_KINDS", "Breakdown", "Line", "MetricRow", "TaskRow", "breakdown_of"]

# The kinds of line that are records of the unit (a cap's take-back and a 容错 are not).
RECORD_KINDS = ("error_report", "incentive", "accountability")


@dataclass(frozen=True)
class TaskRow:
    """A counted task of the unit: its role, weight, times, credit, 容错 and points (earned and lost)."""

    task: str
    role_label: str
    priority_label: str
    weight: float
    due_at: str | None
    extended: bool
    reported_at: str | None
    verified: bool | None
    late_working_days: int | None
    credit: Any
    tolerance_label: str
    points: Any
    lost: float
    note: str


@dataclass(frozen=True)
class MetricRow:
    """An indicator of the unit: its value against the target, its status and its points."""

    metric: str
    name: str
    kind: str
    value: Any
    target: Any
    status_label: str
    earned: Any
    max: Any


@dataclass(frozen=True)
class Line:
    """A bonus or a deduction (or what a cap takes back, or a 容错 applied) with its reason.

    points is as the document has it (a deduction's points are positive) and sign says which way it counts
    (−1 a deduction, +1 a bonus); points None: the line moves no points (a 容错).
    """

    kind: str  # error_report, incentive, accountability, cap, tolerance
    label: str  # 差错通报, 激励, 问责, 容错
    id: Any
    date: Any
    item: str  # the severity, level or kind code
    item_label: str  # 一般, 国家级, 约谈 …
    what: str  # 差错通报（会议筹办，一般）…
    points: Any
    sign: int
    voided: bool
    note: str

    @property
    def is_record(self) -> bool:
        """Whether the line is one of the unit's records (not a cap's take-back nor a 容错)."""
        return self.kind in RECORD_KINDS


@dataclass(frozen=True)
class Breakdown:
    """Every point of a unit's total, as rows."""

    unit: str
    name: str
    tasks: tuple[TaskRow, ...]
    metrics: tuple[MetricRow, ...]
    lines: tuple[Line, ...]

    @property
    def records(self) -> tuple[Line, ...]:
        """The unit's 差错通报, 激励 and 问责 lines, in order."""
        return tuple(line for line in self.lines if line.is_record)


def breakdown_of(unit: Mapping[str, Any]) -> Breakdown:
    """The rows of a unit of the result document (with or without its breakdown)."""
    breakdown: Mapping[str, Any] = unit.get("breakdown") or {}
    caps: Mapping[str, Any] = breakdown.get("caps") or {}
    tasks: list[Mapping[str, Any]] = list(breakdown.get("tasks") or [])
    errors = _by_date(breakdown.get("errors") or [])
    lines = [_error_line(e) for e in errors] + _cap_line("差错通报", caps.get("errors"), +1)
    lines += [_incentive_line(i) for i in _by_date(breakdown.get("incentives") or [])]
    lines += _cap_line("激励", caps.get("incentives"), -1)
    lines += [_accountability_line(a) for a in _by_date(breakdown.get("accountability") or [])]
    lines += _cap_line("问责", caps.get("accountability"), +1)
    lines += [_error_tolerance(e) for e in errors if e.get("tolerance")]
    lines += [_task_tolerance(t) for t in tasks if t.get("tolerance")]
    return Breakdown(
        unit=str(unit.get("unit", "")),
        name=str(unit.get("name", "")),
        tasks=tuple(_task_rows(tasks, float(unit.get("timeliness_max") or 0.0))),
        metrics=tuple(_metric_row(m) for m in breakdown.get("metrics") or []),
        lines=tuple(lines),
    )


def tolerance_note(tolerance: Mapping[str, Any] | None) -> str:
    """容错免责（T-1）: the 容错 a line was given, for its note."""
    if not tolerance:
        return ""
    decision = str(tolerance.get("decision", ""))
    return f"容错{label_of(TOLERANCE_DECISIONS, decision)}（{tolerance.get('id', '')}）"


def _by_date(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(items, key=lambda x: (str(x.get("date", "")), str(x.get("id", ""))))


def _tolerance_label(line: Mapping[str, Any]) -> str:
    return label_of(TOLERANCE_DECISIONS, str((line.get("tolerance") or {}).get("decision", "")))


def _task_rows(tasks: list[Mapping[str, Any]], maximum: float) -> list[TaskRow]:
    """The counted tasks; lost: what each falls short of its share of 时效满分 (by weight)."""
    total_weight = sum(float(t.get("weight") or 0.0) for t in tasks)
    rows = []
    for t in tasks:
        weight, earned = float(t.get("weight") or 0.0), float(t.get("points") or 0.0)
        late = t.get("late_working_days")
        note = "截至考核时点未反馈" if t.get("reported_at") is None else ""
        if t.get("tolerance"):
            note = "，".join(filter(None, (note, tolerance_note(t.get("tolerance")))))
        rows.append(
            TaskRow(
                task=str(t.get("task", "")),
                role_label=TASK_ROLES["lead"] if t.get("role") == "lead" else TASK_ROLES["co"],
                priority_label=label_of(PRIORITIES, str(t.get("priority", ""))),
                weight=weight,
                due_at=t.get("due_at"),
                extended=bool(t.get("extended")),
                reported_at=t.get("reported_at"),
                verified=t.get("verified"),
                late_working_days=late if isinstance(late, int) else None,
                credit=t.get("credit"),
                tolerance_label=_tolerance_label(t),
                points=t.get("points"),
                lost=max(0.0, maximum * weight / total_weight - earned) if total_weight else 0.0,
                note=note,
            )
        )
    return rows


def _metric_row(m: Mapping[str, Any]) -> MetricRow:
    return MetricRow(
        metric=str(m.get("metric", "")),
        name=str(m.get("name", m.get("metric", ""))),
        kind=str(m.get("kind", "")),
        value=m.get("value"),
        target=m.get("target"),
        status_label=label_of(METRIC_STATUSES, str(m.get("status", ""))),
        earned=m.get("earned"),
        max=m.get("max"),
    )


def _error_line(e: Mapping[str, Any]) -> Line:
    category, severity = str(e.get("category", "")), str(e.get("severity", ""))
    tolerance = e.get("tolerance")
    if e.get("voided"):
        note = "申诉成立已撤销"
    elif tolerance:
        note = tolerance_note(tolerance)
        if tolerance.get("decision") == "mitigate":
            note += f"，原扣{float(e.get('deduction', 0.0)):g}分"
    else:
        note = ""
    return Line(
        kind="error_report",
        label=label_of(RECORD_KIND_LABELS, "error_report"),
        id=e.get("id", ""),
        date=e.get("date", ""),
        item=severity,
        item_label=label_of(SEVERITIES, severity),
        what=f"差错通报（{label_of(ERROR_CATEGORIES, category)}，{label_of(SEVERITIES, severity)}）",
        points=e.get("points"),
        sign=-1,
        voided=bool(e.get("voided")),
        note=note,
    )


def _incentive_line(i: Mapping[str, Any]) -> Line:
    level = str(i.get("level", ""))
    return Line(
        kind="incentive",
        label=label_of(RECORD_KIND_LABELS, "incentive"),
        id=i.get("id", ""),
        date=i.get("date", ""),
        item=level,
        item_label=label_of(INCENTIVE_LEVELS, level),
        what=f"激励（{label_of(INCENTIVE_LEVELS, level)}）",
        points=i.get("points"),
        sign=+1,
        voided=False,
        note="",
    )


def _accountability_line(a: Mapping[str, Any]) -> Line:
    kind = str(a.get("kind", ""))
    return Line(
        kind="accountability",
        label=label_of(RECORD_KIND_LABELS, "accountability"),
        id=a.get("id", ""),
        date=a.get("date", ""),
        item=kind,
        item_label=label_of(ACCOUNTABILITY_KINDS, kind),
        what=f"问责（{label_of(ACCOUNTABILITY_KINDS, kind)}）",
        points=a.get("points"),
        sign=-1,
        voided=bool(a.get("voided")),
        note="一票否决" if a.get("veto") else "",
    )


def _cap_line(label: str, cap: Mapping[str, Any] | None, sign: int) -> list[Line]:
    """A line that takes back what a cap cuts off, so a unit's lines add up to its totals."""
    if not cap:
        return []
    # "applied" is the amount that counts (min of sum and cap), not a flag: compare the sum with the cap.
    total, limit = float(cap.get("sum", 0.0)), float(cap.get("cap", 0.0))
    if total <= limit:
        return []
    note = f"合计{total:g}分，按上限{limit:g}分计"
    return [Line("cap", label, "", "", "", "", "超出上限部分不计", total - limit, sign, False, note)]


def _error_tolerance(e: Mapping[str, Any]) -> Line:
    tolerance: Mapping[str, Any] = e.get("tolerance") or {}
    decision = str(tolerance.get("decision", ""))
    label = label_of(TOLERANCE_DECISIONS, decision)
    what = f"差错通报 {e.get('id', '')}"
    return Line(
        "tolerance", "容错", tolerance.get("id", ""), "", decision, label, what, None, 0, False, label
    )


def _task_tolerance(t: Mapping[str, Any]) -> Line:
    tolerance: Mapping[str, Any] = t.get("tolerance") or {}
    decision = str(tolerance.get("decision", ""))
    credit = t.get("credit")
    note = label_of(TOLERANCE_DECISIONS, decision) + (
        f"，时效系数按{float(credit):.2f}计入时效得分" if isinstance(credit, int | float) else ""
    )
    what = f"任务 {t.get('task', '')} 办理时效"
    label = label_of(TOLERANCE_DECISIONS, decision)
    return Line("tolerance", "容错", tolerance.get("id", ""), "", decision, label, what, None, 0, False, note)
