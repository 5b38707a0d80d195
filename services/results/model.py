"""结果运用 from a run's result document: the notice's grades by category, each unit's letter, the 优秀 list.

Pure: the gateway gathers the run (with its breakdown), the records' reasons and the tasks' titles.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.vocabulary import (
    ACCOUNTABILITY_KINDS,
    ERROR_CATEGORIES,
    GRADES,
    INCENTIVE_LEVELS,
    METRIC_STATUSES,
    SEVERITIES,
    TASK_ROLES,
    TOLERANCE_DECISIONS,
    UNIT_CATEGORIES,
    label_of,
)

DEFAULT_ISSUER = "考核办公室"
# The unit deduction for a 问责 is the scheme's choice, not the decision on the person (宁强 20).
ACCOUNTABILITY_NOTE = (
    "单位扣分（本方案规定）：问责扣减单位分数系考核方案的规定；对个人的处理按照管理权限由有关机关决定"
)
# An accountability record's optional names, as a letter and the notice say them.
ACCOUNTABILITY_NAMES = (("person", "当事人"), ("decided_by", "决定机关"))
# The text each record kind gives as its reason.
REASON_FIELDS = {"error_report": "description", "incentive": "reason", "accountability": "reason"}


def record_reason(kind: str, fields: Mapping[str, Any]) -> str:
    """A record's reason as the documents give it: an accountability's with its person and deciding body."""
    parts = [str(fields.get(REASON_FIELDS.get(kind, "reason"), "") or "")]
    if kind == "accountability":
        parts += [f"{label}：{fields[name]}" for name, label in ACCOUNTABILITY_NAMES if fields.get(name)]
    return "；".join(p for p in parts if p)


@dataclass(frozen=True)
class Issue:
    """Who issues the documents and for which run."""

    issuer: str
    year: int
    run: str
    state: str
    as_of: str
    scheme: str


@dataclass(frozen=True)
class Standing:
    unit: str
    name: str
    category: str
    total: float
    rank: int
    grade: str
    veto: bool


@dataclass(frozen=True)
class GradeGroup:
    grade: str
    label: str
    units: tuple[Standing, ...]


@dataclass(frozen=True)
class CategoryGrades:
    category: str
    label: str
    groups: tuple[GradeGroup, ...]
    count: int


@dataclass(frozen=True)
class Notice:
    issue: Issue
    categories: tuple[CategoryGrades, ...]


@dataclass(frozen=True)
class Line:
    """One point gained or lost: what, the points (positive gained, negative lost), why."""

    section: str
    item: str
    points: float
    reason: str


@dataclass(frozen=True)
class Letter:
    issue: Issue
    standing: Standing
    category_label: str
    category_count: int
    timeliness: tuple[float, float]
    metrics: tuple[float, float]
    base: float
    bonus: float
    error_deduction: float
    accountability_deduction: float
    nothing_assessed: bool
    lines: tuple[Line, ...] = field(default=())


def issue_of(document: Mapping[str, Any], *, issuer: str, jurisdiction: str) -> Issue:
    """The issuing line: the county's name before the issuer's (宁强县考核办公室) when the scheme gives it."""
    name = issuer or DEFAULT_ISSUER
    if jurisdiction and not name.startswith(jurisdiction):
        name = jurisdiction + name
    return Issue(
        issuer=name,
        year=int(document.get("year") or 0),
        run=str(document.get("run", "")),
        state=str(document.get("state", "")),
        as_of=str(document.get("as_of", "")),
        scheme=str(document.get("scheme", "")),
    )


def standing(entry: Mapping[str, Any]) -> Standing:
    return Standing(
        unit=str(entry["unit"]),
        name=str(entry.get("name", entry["unit"])),
        category=str(entry.get("category", "")),
        total=float(entry.get("total", 0.0)),
        rank=int(entry.get("rank", 0)),
        grade=str(entry.get("grade", "")),
        veto=bool(entry.get("veto")),
    )


def categories_of(units: Sequence[Standing]) -> list[str]:
    present = {u.category for u in units}
    known = [c for c in UNIT_CATEGORIES if c in present]
    return known + sorted(present - set(known))


def notice(document: Mapping[str, Any], issue: Issue) -> Notice:
    """The run's units by category, then grade (优秀 … 较差), each by rank."""
    units = [standing(e) for e in document.get("units") or []]
    grades = list(GRADES) + sorted({u.grade for u in units} - set(GRADES))
    out = []
    for category in categories_of(units):
        members = sorted((u for u in units if u.category == category), key=lambda u: (u.rank, u.unit))
        groups = tuple(
            GradeGroup(g, label_of(GRADES, g), tuple(u for u in members if u.grade == g)) for g in grades
        )
        out.append(CategoryGrades(category, label_of(UNIT_CATEGORIES, category), groups, len(members)))
    return Notice(issue, tuple(out))


def excellent_csv(document: Mapping[str, Any]) -> bytes:
    """The 优秀 units, for 评先评优: UTF-8 with a BOM so that Excel reads the Chinese."""
    units = [standing(e) for e in document.get("units") or []]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["年度", "类别", "名次", "单位代码", "单位", "总分", "等次"])
    year = document.get("year", "")
    for category in categories_of(units):
        members = sorted(
            (u for u in units if u.category == category and u.grade == "excellent"),
            key=lambda u: (u.rank, u.unit),
        )
        for u in members:
            label = label_of(UNIT_CATEGORIES, category)
            writer.writerow([year, label, u.rank, u.unit, u.name, f"{u.total:.2f}", GRADES["excellent"]])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _tolerance(tolerance: Mapping[str, Any]) -> str:
    decision = label_of(TOLERANCE_DECISIONS, str(tolerance.get("decision", "")))
    return f"容错{decision}（{tolerance.get('id', '')}）"


def _pts(value: float) -> str:
    return f"{value:.2f}"


def _task_lines(
    entry: Mapping[str, Any], breakdown: Mapping[str, Any], titles: Mapping[str, str]
) -> list[Line]:
    tasks = list(breakdown.get("tasks") or [])
    total_weight = sum(float(t.get("weight") or 0.0) for t in tasks)
    maximum = float(entry.get("timeliness_max") or 0.0)
    lines = []
    for t in tasks:
        task = str(t.get("task", ""))
        share = maximum * float(t.get("weight") or 0.0) / total_weight if total_weight else 0.0
        earned = float(t.get("points") or 0.0)
        role = TASK_ROLES["lead"] if t.get("role") == "lead" else TASK_ROLES["co"]
        due = str(t.get("due_at") or "")[:10]
        reported = t.get("reported_at")
        late = t.get("late_working_days")
        if reported is None:
            how = "截至考核时点未反馈"
        elif isinstance(late, int) and late > 0:
            how = f"{str(reported)[:10]}反馈，逾期{late}个工作日"
        else:
            how = f"{str(reported)[:10]}按时反馈"
        tolerance = t.get("tolerance")
        if tolerance:
            how += "；" + _tolerance(tolerance)
        title = titles.get(task, "")
        item = f"任务 {task}" + (f"《{title}》" if title else "")
        reason = f"{role}，应于{due}前办结，{how}；本项分值{_pts(share)}分，得{_pts(earned)}分"
        lines.append(Line("办理时效", item, earned - share, reason))
    return lines


def _metric_lines(breakdown: Mapping[str, Any]) -> list[Line]:
    lines = []
    for m in breakdown.get("metrics") or []:
        earned, maximum = float(m.get("earned") or 0.0), float(m.get("max") or 0.0)
        value, target = m.get("value"), m.get("target")
        status = label_of(METRIC_STATUSES, str(m.get("status", "")))
        shown = "未报" if value is None else f"{value:g}"
        reason = f"完成值{shown}，目标{target:g}，{status}；满分{_pts(maximum)}分，得{_pts(earned)}分"
        lines.append(Line("指标", str(m.get("name") or m.get("metric", "")), earned - maximum, reason))
    return lines


def _record_lines(breakdown: Mapping[str, Any], reasons: Mapping[tuple[str, str], str]) -> list[Line]:
    lines = []
    for e in breakdown.get("errors") or []:
        category = label_of(ERROR_CATEGORIES, str(e.get("category", "")))
        what = f"{category}，{label_of(SEVERITIES, str(e.get('severity', '')))}"
        why = reasons.get(("error_report", str(e.get("id", ""))), "")
        notes = []
        if e.get("voided"):
            notes.append("申诉成立，已撤销，不扣分")
        tolerance = e.get("tolerance")
        if tolerance:
            notes.append(_tolerance(tolerance))
        reason = "；".join(filter(None, [f"{e.get('date', '')}，{what}", why, *notes]))
        lines.append(Line("差错通报", f"差错 {e.get('id', '')}", -float(e.get("points") or 0.0), reason))
    for i in breakdown.get("incentives") or []:
        why = reasons.get(("incentive", str(i.get("id", ""))), "")
        level = label_of(INCENTIVE_LEVELS, str(i.get("level", "")))
        reason = "；".join(filter(None, [f"{i.get('date', '')}，{level}", why]))
        lines.append(Line("激励加分", f"激励 {i.get('id', '')}", float(i.get("points") or 0.0), reason))
    for a in breakdown.get("accountability") or []:
        why = reasons.get(("accountability", str(a.get("id", ""))), "")
        kind = label_of(ACCOUNTABILITY_KINDS, str(a.get("kind", "")))
        notes = ["申诉成立，已撤销，不扣分"] if a.get("voided") else []
        if a.get("veto"):
            notes.append("一票否决")
        notes.append(ACCOUNTABILITY_NOTE)
        reason = "；".join(filter(None, [f"{a.get('date', '')}，{kind}", why, *notes]))
        lines.append(Line("问责扣分", f"问责 {a.get('id', '')}", -float(a.get("points") or 0.0), reason))
    caps = breakdown.get("caps") or {}
    for key, section, sign in (
        ("errors", "差错通报", 1),
        ("incentives", "激励加分", -1),
        ("accountability", "问责扣分", 1),
    ):
        cap = caps.get(key) or {}
        total, limit = float(cap.get("sum", 0.0)), float(cap.get("cap", 0.0))
        if cap and total > limit:
            reason = f"合计{total:g}分，按上限{limit:g}分计"
            lines.append(Line(section, "超出上限部分不计", sign * (total - limit), reason))
    return lines


def letter(
    document: Mapping[str, Any],
    unit: str,
    issue: Issue,
    *,
    reasons: Mapping[tuple[str, str], str],
    titles: Mapping[str, str],
    peers: Sequence[Mapping[str, Any]] | None = None,
) -> Letter:
    """One unit's 反馈: its totals, grade and rank, and every point gained or lost with its reason."""
    entries = [e for e in document.get("units") or [] if e.get("unit") == unit]
    if not entries:
        raise KeyError(unit)
    entry = entries[0]
    own = standing(entry)
    breakdown = entry.get("breakdown") or {}
    # Every unit of the run when known (0 when not: a department sees its own line only).
    count = sum(1 for e in peers if e.get("category") == own.category) if peers is not None else 0
    lines = [
        *_task_lines(entry, breakdown, titles),
        *_metric_lines(breakdown),
        *_record_lines(breakdown, reasons),
    ]
    return Letter(
        issue=issue,
        standing=own,
        category_label=label_of(UNIT_CATEGORIES, own.category),
        category_count=count,
        timeliness=(float(entry.get("timeliness_earned", 0.0)), float(entry.get("timeliness_max", 0.0))),
        metrics=(float(entry.get("metrics_earned", 0.0)), float(entry.get("metrics_max", 0.0))),
        base=float(entry.get("base", 0.0)),
        bonus=float(entry.get("bonus", 0.0)),
        error_deduction=float(entry.get("error_deduction", 0.0)),
        accountability_deduction=float(entry.get("accountability_deduction", 0.0)),
        nothing_assessed=bool(entry.get("nothing_assessed")),
        lines=tuple(lines),
    )
