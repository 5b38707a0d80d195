"""A run's result as HTML: the table of units (data-unit, data-total) and one unit's points explained."""

from __future__ import annotations

from typing import Any

from services.results.breakdown import Breakdown, breakdown_of
from services.web.layout import (
    Raw,
    category_label,
    chart,
    esc,
    grade_label,
    instant,
    num,
    row,
    table,
    unit_attrs,
)
from services.web.replies import part

RESULT_HEADERS = [
    "排名",
    "单位",
    "总分",
    "等次",
    "时效",
    "指标",
    "基础分",
    "加分",
    "差错扣分",
    "问责扣分",
    "一票否决",
]


def result_rows(units: list[dict[str, Any]], *, link: str = "") -> list[str]:
    """One row per unit, ranked; link (with {unit}) makes the unit's name a link to its detail."""
    rows = []
    for u in sorted(units, key=lambda u: (u["rank"], u["unit"])):
        name: object = u["name"]
        if link:
            name = Raw(f'<a href="{esc(link.replace("{unit}", part(u["unit"])))}">{esc(u["name"])}</a>')
        rows.append(
            row(
                [
                    u["rank"],
                    name,
                    Raw(f'<span class="total">{esc(num(u["total"]))}</span>'),
                    grade_label(u["grade"]),
                    f"{num(u['timeliness_earned'])}/{num(u['timeliness_max'])}",
                    f"{num(u['metrics_earned'])}/{num(u['metrics_max'])}",
                    num(u["base"]),
                    num(u["bonus"]),
                    num(u["error_deduction"]),
                    num(u["accountability_deduction"]),
                    "是" if u["veto"] else "",
                ],
                attrs=unit_attrs(u["unit"], u["total"]),
                numeric=(0, 2, 6, 7, 8, 9),
            )
        )
    return rows


def result_tables(document: dict[str, Any], *, link: str = "") -> str:
    """The result by category, each with its table."""
    by_category: dict[str, list[dict[str, Any]]] = {}
    for unit in document.get("units", []):
        by_category.setdefault(unit["category"], []).append(unit)
    interim = (
        f'<p class="interim"><strong>期中</strong>：截至 {esc(document.get("as_of", ""))}，年度尚未结束，'
        "只计已到期的任务；期中结果可以公示，不能定档。</p>"
        if document.get("interim")
        else ""
    )
    return interim + "".join(
        f"<h3>{esc(category_label(c))}</h3>"
        + table(RESULT_HEADERS, result_rows(units, link=link), numeric=(0, 2, 6, 7, 8, 9))
        for c, units in by_category.items()
    )


def distribution_chart(document: dict[str, Any]) -> str:
    """The totals of each category, as points on one axis per category."""
    series: dict[str, list[list[Any]]] = {}
    for unit in document.get("units", []):
        series.setdefault(category_label(unit["category"]), []).append([unit["total"], unit["name"]])
    return chart("distribution", {"series": series}, label="各类别总分分布")


def indicator_chart(indicators: list[dict[str, Any]]) -> str:
    """A unit's indicators: its value against the target."""
    shown = [m for m in indicators if m.get("value") is not None and m.get("target") is not None]
    if not shown:
        return ""
    data = {
        "names": [m.get("name") or m["metric"] for m in shown],
        "values": [m["value"] for m in shown],
        "targets": [m["target"] for m in shown],
    }
    return chart("indicators", data, label="指标完成值与目标值对比")


def explained(unit: dict[str, Any], *, appeal_form: Any = None) -> str:
    """Every point of a unit's total: tasks, indicators, deductions and bonuses.

    appeal_form, when given, makes the form a department files an appeal with, per error report.
    """
    rows = breakdown_of(unit)
    head = (
        f'<p class="summary"{unit_attrs(unit["unit"], unit["total"])}>总分 <strong class="total">'
        f"{esc(num(unit['total']))}</strong>（基础分 {esc(num(unit['base']))}"
        f" ＋ 加分 {esc(num(unit['bonus']))}"
        f" − 差错扣分 {esc(num(unit['error_deduction']))} − 问责扣分 "
        f"{esc(num(unit['accountability_deduction']))}）；排名 {esc(unit['rank'])}，"
        f"等次 {esc(grade_label(unit['grade']))}{'；一票否决' if unit['veto'] else ''}</p>"
    )
    metrics = (unit.get("breakdown") or {}).get("metrics", [])
    return (
        head
        + _task_table(rows, unit)
        + _indicator_table(rows, unit)
        + indicator_chart(metrics)
        + _record_table(rows, (unit.get("breakdown") or {}).get("errors", []), appeal_form)
    )


def _task_table(rows: Breakdown, unit: dict[str, Any]) -> str:
    return table(
        ["任务", "角色", "权重", "应办结", "反馈", "逾期工作日", "得分率", "容错", "得分"],
        [
            row(
                [
                    t.task,
                    t.role_label,
                    num(t.weight),
                    instant(t.due_at),
                    instant(t.reported_at) or "未反馈",
                    t.late_working_days or "",
                    num(t.credit),
                    t.tolerance_label,
                    num(t.points),
                ],
                numeric=(2, 5, 6, 8),
            )
            for t in rows.tasks
        ],
        caption=f"时效：{num(unit['timeliness_earned'])} / {num(unit['timeliness_max'])} 分",
        numeric=(2, 5, 6, 8),
    )


def _indicator_table(rows: Breakdown, unit: dict[str, Any]) -> str:
    return table(
        ["指标", "完成值", "目标", "状态", "得分", "满分"],
        [
            row(
                [
                    m.name,
                    "" if m.value is None else f"{m.value:.4g}",
                    m.target,
                    m.status_label,
                    num(m.earned),
                    num(m.max),
                ],
                numeric=(1, 2, 4, 5),
            )
            for m in rows.metrics
        ],
        caption=f"指标：{num(unit['metrics_earned'])} / {num(unit['metrics_max'])} 分",
        numeric=(1, 2, 4, 5),
    )


def _record_table(rows: Breakdown, errors: list[dict[str, Any]], appeal_form: Any) -> str:
    """The 差错通报, 激励 and 问责 lines; an error report not voided gets its appeal form (when given)."""
    by_id = {e["id"]: e for e in errors}
    lines = []
    for line in rows.records:
        error = line.kind == "error_report"
        form = appeal_form(by_id[line.id]) if error and appeal_form is not None and not line.voided else ""
        lines.append(
            row(
                [
                    line.label,
                    line.id,
                    line.date,
                    line.item_label + ("（已撤销）" if error and line.voided else ""),
                    ("+" if line.sign > 0 else "-") + num(line.points),
                    Raw(form),
                ]
            )
        )
    return table(["类别", "编号", "日期", "事项", "分值", "申诉"], lines, caption="扣分与加分")
