"""The 督办 ledger as an Excel sheet: every task with its colour, due instant and state, filters on."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import PatternFill

from services.common.vocabulary import COLOURS, OUTCOMES, PRIORITIES, TASK_STATES, label_of
from services.common.xlsx import HEADER_ROW, display_width, finish, head

__all__ = ["HEADERS", "task_list_workbook"]

HEADERS = (
    "任务编号",
    "事项",
    "任务类型",
    "牵头单位",
    "协办单位",
    "紧急程度",
    "状态",
    "颜色",
    "交办时间",
    "应办结时间",
    "反馈时间",
    "办理结果",
    "来源",
)
TIME_COLUMNS = frozenset({"交办时间", "应办结时间", "反馈时间"})
TIME_FORMAT = "yyyy-mm-dd hh:mm"
FILLS = {
    "blue": PatternFill("solid", fgColor="BDD7EE"),
    "yellow": PatternFill("solid", fgColor="FFE699"),
    "red": PatternFill("solid", fgColor="F4B084"),
}


def _local(value: str | None) -> datetime | None:
    """An instant as the wall-clock time it was written in (the scheme's zone): Excel has no offsets."""
    return datetime.fromisoformat(value).replace(tzinfo=None) if value else None


def task_list_workbook(
    tasks: Sequence[Mapping[str, Any]],
    *,
    units: Mapping[str, str],
    task_types: Mapping[str, str],
    title: str,
    as_of: str | None,
) -> bytes:
    """One sheet 督办台账: names not codes, Chinese states and colours, local times, the colour filled in."""
    book = Workbook()
    ws = book.active
    ws.title = "督办台账"
    moment = _local(as_of)
    when = f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}" if moment else ""
    head(ws, f"{title}（截至 {when}）" if when else title, HEADERS)
    widths = [display_width(h) + 2 for h in HEADERS]
    for r, task in enumerate(tasks, start=HEADER_ROW + 1):
        colour = task.get("color")
        row = (
            task["id"],
            task["title"],
            task_types.get(task["task_type"], task["task_type"]),
            units.get(task["lead_unit"], task["lead_unit"]),
            "、".join(units.get(u, u) for u in task.get("co_units") or []),
            label_of(PRIORITIES, task["priority"]),
            label_of(TASK_STATES, task["state"]),
            label_of(COLOURS, colour) if colour else "",
            _local(task.get("assigned_at")),
            _local(task.get("due_at")),
            _local(task.get("reported_at")),
            label_of(OUTCOMES, task["outcome"]) if task.get("outcome") else "",
            task.get("source") or "",
        )
        for c, (header, value) in enumerate(zip(HEADERS, row, strict=True), start=1):
            cell = ws.cell(row=r, column=c, value=value)
            if header in TIME_COLUMNS and value is not None:
                cell.number_format = TIME_FORMAT
                widths[c - 1] = max(widths[c - 1], len(TIME_FORMAT) + 1)
            else:
                widths[c - 1] = max(widths[c - 1], display_width(value))
        if colour in FILLS:
            ws.cell(row=r, column=HEADERS.index("颜色") + 1).fill = FILLS[colour]
    finish(ws, widths, autofilter=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
