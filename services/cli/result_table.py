"""A run's result for the terminal: the table of units by category and each unit's score breakdown."""

from __future__ import annotations

from typing import Any

from services.cli.text_table import num, sanitised, table
from services.common.vocabulary import GRADES, RUN_STATES, UNIT_CATEGORIES
from services.results.breakdown import TaskRow, breakdown_of

__all__ = ["breakdown", "results"]

RESULT_HEADERS = [
    "排名",
    "单位",
    "代码",
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


def _result_row(u: dict[str, Any]) -> list[Any]:
    return [
        u["rank"],
        u["name"],
        u["unit"],
        num(u["total"]),
        GRADES.get(u["grade"], u["grade"]),
        f"{num(u['timeliness_earned'])}/{num(u['timeliness_max'])}",
        f"{num(u['metrics_earned'])}/{num(u['metrics_max'])}",
        num(u["base"]),
        num(u["bonus"]),
        num(u["error_deduction"]),
        num(u["accountability_deduction"]),
        "是" if u["veto"] else "",
    ]


@sanitised
def results(document: dict[str, Any], *, detail: bool = False) -> str:
    head = (
        f"{document.get('year')} 年度考核 · 运行 {document.get('run')} · "
        f"{RUN_STATES.get(document.get('state', ''), document.get('state'))} · "
        f"方案 {document.get('scheme')} · "
        f"截至 {document.get('as_of')}"
        + (" · 期中（年度未结束，不能定档）" if document.get("interim") else "")
    )
    out = [head]
    if document.get("calendar_warnings"):
        out.append(
            "注意：法定节假日日历未覆盖 "
            + "、".join(map(str, document["calendar_warnings"]))
            + " 年，已按周一至周五计算工作日；请在方案中补充当年放假安排。"
        )
    by_category: dict[str, list[dict[str, Any]]] = {}
    for unit in document.get("units", []):
        by_category.setdefault(unit["category"], []).append(unit)
    for category, units in by_category.items():
        out.append(f"\n【{UNIT_CATEGORIES.get(category, category)}】")
        rows = [_result_row(u) for u in sorted(units, key=lambda u: (u["rank"], u["unit"]))]
        out.append(table(RESULT_HEADERS, rows, numeric={0, 3, 7, 8, 9, 10}))
    if detail:
        for unit in document.get("units", []):
            out.append(breakdown(unit))
    return "\n".join(out)


def _verified(task: TaskRow) -> str:
    return "" if task.verified is None else "已核查" if task.verified else "未核查"


@sanitised
def breakdown(unit: dict[str, Any]) -> str:
    parts = [f"\n{unit['name']}（{unit['unit']}）得分明细"]
    rows = breakdown_of(unit)
    if rows.tasks:
        parts.append(
            table(
                ["任务", "角色", "权重", "应办结", "反馈", "核查", "逾期工作日", "得分率", "容错", "得分"],
                [
                    [
                        t.task,
                        t.role_label,
                        num(t.weight),
                        f"{t.due_at}" + ("（已延期）" if t.extended else ""),
                        t.reported_at or "未反馈",
                        _verified(t),
                        t.late_working_days or "",
                        num(t.credit),
                        t.tolerance_label,
                        num(t.points),
                    ]
                    for t in rows.tasks
                ],
            )
        )
    if rows.metrics:
        parts.append(
            table(
                ["指标", "值", "目标", "状态", "得分", "满分"],
                [
                    [
                        m.name,
                        "" if m.value is None else f"{m.value:.4g}",
                        m.target,
                        m.status_label,
                        num(m.earned),
                        num(m.max),
                    ]
                    for m in rows.metrics
                ],
            )
        )
    # The terminal shows a 问责's kind as the document has it (its code).
    lines = [
        [
            line.label,
            line.id,
            line.date,
            (line.item if line.kind == "accountability" else line.item_label)
            + ("（已撤销）" if line.voided and line.kind == "error_report" else ""),
            ("+" if line.sign > 0 else "-") + num(line.points),
        ]
        for line in rows.records
    ]
    if lines:
        parts.append(table(["类别", "编号", "日期", "事项", "分值"], lines))
    return "\n".join(parts)
