"""Tables in Chinese for the terminal: tasks, runs, records, the overview, the dashboard and the ranking."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from services.cli.result_table import breakdown, results
from services.cli.text_table import clean, num, pad, sanitised, table, width
from services.common.vocabulary import (
    COLOURS,
    GRADES,
    LEDGER_LINE_TYPES,
    METRIC_STATUSES,
    OUTCOMES,
    ROLES,
    RUN_STATES,
    TASK_EVENT_KINDS,
    TASK_NOTE_KINDS,
    TASK_STATES,
    UNIT_CATEGORIES,
)

# The table primitives (text_table) and the result's tables (result_table) are named here for the commands.
__all__ = [
    "HEALTH",
    "breakdown",
    "clean",
    "dashboard",
    "import_summary",
    "num",
    "overview",
    "pad",
    "progress",
    "ranking",
    "records",
    "results",
    "runs",
    "sanitised",
    "table",
    "task_detail",
    "tasks",
    "width",
]

HEALTH = {"SERVING": "正常", "NOT_SERVING": "停止服务", "UNREACHABLE": "不可达", "UNKNOWN": "未知"}


@sanitised
def tasks(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "（没有符合条件的任务）"
    body = [
        [
            t["id"],
            t["title"][:24],
            t["lead_unit"],
            TASK_STATES.get(t["state"], t["state"]),
            COLOURS.get(t["color"] or "", ""),
            t["due_at"] or "",
            OUTCOMES.get(t["outcome"] or "", ""),
            ROLES.get(t.get("holder") or "", t.get("holder") or ""),
        ]
        for t in sorted(rows, key=lambda t: (t["due_at"] or "", t["id"]))
    ]
    return (
        table(["编号", "事项", "牵头单位", "状态", "颜色", "应办结时间", "结果", "当前承办"], body)
        + f"\n共 {len(rows)} 项"
    )


@sanitised
def task_detail(task: dict[str, Any]) -> str:
    head = (
        f"{task['id']} {task['title']}\n类型 {task.get('task_type_name') or task['task_type']} · "
        f"牵头 {task['lead_unit']}"
        + (f" · 协办 {'、'.join(task['co_units'])}" if task["co_units"] else "")
        + f" · {task['state_label']} · 应办结 {task['due_at'] or '—'}"
        + (f" · 颜色 {COLOURS[task['color']]}" if task.get("color") else "")
        + (f" · {OUTCOMES[task['outcome']]}" if task.get("outcome") else "")
        + (
            f"\n逾期未报进展：应于 {task['progress_overdue_since']} 前报送"
            if task.get("progress_overdue_since")
            else ""
        )
    )
    history = table(
        ["时间", "环节", "经办", "说明"],
        [
            [
                e["at"],
                {**TASK_EVENT_KINDS, **TASK_NOTE_KINDS}.get(e["kind"], e["kind"])
                + ("（已退回）" if e["rejected"] else ""),
                e["by"],
                e["note"] + (f"（截止时间延至 {e['due_at']}）" if e.get("due_at") else ""),
            ]
            for e in task["history"]
        ],
    )
    return head + _people_and_parts(task) + "\n" + history


def _people_and_parts(task: dict[str, Any]) -> str:
    """责任人, 包保领导, the task this one is a part of, and its own parts' progress."""
    named = [
        f"{label} {task.get(key + '_name') or task[key]}"
        for key, label in (("responsible", "责任人"), ("leader", "包保领导"))
        if task.get(key)
    ]
    if task.get("parent"):
        named.append(f"上级任务 {task['parent']}")
    parts = task.get("parts") or []
    lines = "\n" + " · ".join(named) if named else ""
    if parts:
        done = sum(1 for p in parts if p["state"] == "closed")
        lines += f"\n任务分解 {len(parts)} 项（已销号 {done}）：" + "；".join(
            f"{p['id']} {p['lead_unit']} {TASK_STATES.get(p['state'], p['state'])}" for p in parts
        )
    return lines


@sanitised
def import_summary(document: dict[str, Any]) -> str:
    kinds = sorted(set(document["created"]) | set(document["unchanged"]))
    rows = [
        [LEDGER_LINE_TYPES.get(k, k), document["created"].get(k, 0), document["unchanged"].get(k, 0)]
        for k in kinds
    ]
    verb = "校验通过（未写入）" if document["validate_only"] else "导入完成"
    return f"{verb}：共 {document['lines']} 行\n" + table(["类型", "新增", "已存在"], rows, numeric={1, 2})


@sanitised
def runs(items: list[dict[str, Any]]) -> str:
    if not items:
        return "（尚无考核运行）"
    return table(
        ["运行", "年度", "状态", "方案", "截至", "生成时间", "更正自"],
        [
            [
                r.get("id"),
                r.get("year"),
                RUN_STATES.get(r.get("state", ""), r.get("state")),
                r.get("scheme"),
                f"{r.get('as_of')}{'（期中）' if _interim(r) else ''}",
                r.get("created_at"),
                r.get("supersedes", ""),
            ]
            for r in items
        ],
    )


def _interim(run: dict[str, Any]) -> bool:
    """Whether a listed run's cutoff is before its year's last second, local time (期中)."""
    try:
        as_of = datetime.fromisoformat(str(run.get("as_of")))
        year = int(run.get("year") or 0)
    except ValueError:
        return False
    end = datetime(year, 12, 31, 23, 59, 59, tzinfo=as_of.tzinfo) if year and as_of.tzinfo else None
    return end is not None and as_of < end


@sanitised
def records(items: list[dict[str, Any]]) -> str:
    if not items:
        return "（没有记录）"
    return table(
        ["类别", "编号", "单位", "内容", "状态"],
        [
            [
                LEDGER_LINE_TYPES.get(r["kind"], r["kind"]),
                r["id"],
                r.get("unit", ""),
                "，".join(f"{k}={v}" for k, v in (r.get("fields") or {}).items() if k not in ("id", "unit"))[
                    :60
                ],
                "已作废" if r.get("voided") else "",
            ]
            for r in items
        ],
    )


def _rate(value: float) -> str:
    return "—" if value < 0 else f"{value * 100:.1f}%"


@sanitised
def overview(data: dict[str, Any]) -> str:
    rows = [
        [
            u["name"],
            UNIT_CATEGORIES.get(u["category"], u["category"]),
            u["open_blue"],
            u["open_yellow"],
            u["open_red"],
            _rate(u["on_time_rate"]),
            u["error_reports"],
            sum(1 for i in u["indicators"] if i["status"] in ("below", "missing")),
            # Nothing of the unit due yet in a year in progress: no score to show, not a 0 (较差).
            "—" if u.get("nothing_due") else num(u["provisional_total"]),
            "—" if u.get("nothing_due") else u["provisional_rank"],
            "—" if u.get("nothing_due") else GRADES.get(u["provisional_grade"], ""),
        ]
        for u in data.get("units", [])
    ]
    return (
        f"{data.get('year')} 年度实时态势（截至 {data.get('as_of')}，方案 {data.get('scheme')}"
        + ("，期中：只计已到期的任务" if data.get("interim") else "")
        + "）\n"
        + table(
            [
                "单位",
                "类别",
                *COLOURS.values(),
                "按时率",
                "差错",
                "未达标指标",
                "预估总分",
                "预估排名",
                "预估等次",
            ],
            rows,
            numeric={2, 3, 4, 6, 7, 8, 9},
        )
    )


def _standing(s: dict[str, Any]) -> str:
    """One unit's live standing in a line: its provisional score, open tasks by colour, on-time rate."""
    standing = (
        "尚无到期事项，暂不预估"
        if s.get("nothing_due")
        else f"预估总分 {num(s['provisional_total'])}，排名 {s['provisional_rank']}，"
        f"{GRADES.get(s['provisional_grade'], '')}"
    )
    return (
        f"{s['name']}：{standing}；"
        f"在办 蓝{s['open_blue']} 黄{s['open_yellow']} 红{s['open_red']}，"
        f"按时率 {_rate(s['on_time_rate'])}"
    )


@sanitised
def dashboard(data: dict[str, Any]) -> str:
    s = data["standing"]
    # A 乡镇's dashboard: each of its 村 on a line of its own, set under the 乡镇's.
    head = "\n".join([_standing(s), *("　└ " + _standing(b) for b in data.get("below", []))])
    indicators = table(
        ["指标", "值", "目标", "状态"],
        [
            [
                i["name"],
                f"{i['value']:.4g}" if i["has_value"] else "—",
                f"{i['target']}" + ("（目标责任书）" if i.get("target_source") == "target_record" else ""),
                METRIC_STATUSES.get(i["status"], ""),
            ]
            for i in s["indicators"]
        ],
    )
    items = table(
        ["任务", "事项", "颜色", "应办结", "剩余小时", "逾期将失分", "每迟一个工作日"],
        [
            [
                i["task"],
                i["title"][:20],
                COLOURS.get(i["color"], "") + ("·逾期未报进展" if i.get("progress_overdue_since") else ""),
                i["due_at"],
                f"{i['hours_left']:.1f}",
                num(i["cost_if_overdue"]),
                num(i["cost_per_late_day"]),
            ]
            for i in data.get("open_items", [])
        ],
    )
    return "\n\n".join([head, indicators, "在办事项（按紧急程度）", items])


@sanitised
def ranking(data: dict[str, Any]) -> str:
    out = [
        f"{data.get('year')} 年度考核排名 · 运行 {data.get('run')} · "
        f"{RUN_STATES.get(data.get('state', ''), '')}"
    ]
    for category in data.get("categories", []):
        out.append(f"\n【{UNIT_CATEGORIES.get(category['category'], category['category'])}】")
        out.append(
            table(
                ["排名", "单位", "总分", "等次", "一票否决"],
                [
                    [
                        r["rank"],
                        r["name"],
                        num(r["total"]),
                        GRADES.get(r["grade"], r["grade"]),
                        "是" if r["veto"] else "",
                    ]
                    for r in category.get("rows", [])
                ],
                numeric={0, 2},
            )
        )
    return "\n".join(out)


def progress(done: int, total: int, label: str) -> None:
    filled = int(30 * done / total)
    sys.stderr.write(f"\r{label} [{'█' * filled}{' ' * (30 - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
