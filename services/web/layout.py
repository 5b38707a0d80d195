"""How the console writes values on its pages (the templates' filters): instants in the county's time, scores,
rates and labels from the shared vocabulary; and each role's menu."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kaohe.common.v1 import common_pb2

from services.common.protoenum import enum_code
from services.common.vocabulary import GRADES, RUN_STATES, UNIT_CATEGORIES, label_of
from services.common.wiretime import rfc3339_of

# The county's clock: every instant on a page is shown in it.
LOCAL = ZoneInfo("Asia/Shanghai")
NAV = {
    "office": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/records", "考核记录"),
        ("/office/bulletin", "督查通报"),
        ("/office/runs", "考核运行"),
        ("/office/appeals", "申诉"),
        ("/office/tolerance", "容错申请"),
        ("/office/extensions", "延期申请"),
        ("/office/ranking", "排名"),
        ("/office/import", "台账导入"),
        ("/office/accounts", "账号"),
        ("/persons", "责任人"),
    ],
    "department": [
        ("/unit", "本单位"),
        ("/tasks", "督办事项"),
        ("/unit/appeals", "申诉与容错"),
        ("/unit/extensions", "延期申请"),
        ("/persons", "责任人"),
    ],
    "supervisor": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/runs", "考核运行"),
        ("/office/ranking", "排名"),
    ],
    "viewer": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/runs", "考核运行"),
        ("/office/ranking", "排名"),
    ],
}


def instant(value: Any) -> str:
    """An instant in the county's time as people write it: 2026年12月6日 19:05 (a date: 2026年12月6日)."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if len(text) <= 10:
        return f"{parsed.year}年{parsed.month}月{parsed.day}日"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(LOCAL)
    return f"{parsed.year}年{parsed.month}月{parsed.day}日 {parsed:%H:%M}"


def num(value: Any) -> str:
    """A score as people write it: at most two decimals, no trailing zeros."""
    if value is None or value == "":
        return ""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def total_attr(value: Any) -> str:
    """A total exactly as the result document gives it (a JSON number), for data-total."""
    return json.dumps(value)


def rate(value: float) -> str:
    return "—" if value < 0 else f"{value * 100:.1f}%"


def hours_left(hours: float) -> str:
    """剩余 2 天 3 小时 / 已逾期 5 小时."""
    whole = int(abs(hours))
    days, rest = divmod(whole, 24)
    text = (f"{days} 天 " if days else "") + f"{rest} 小时"
    return f"已逾期 {text}" if hours < 0 else f"剩余 {text}"


def state_label(code: str) -> str:
    return label_of(RUN_STATES, code)


def run_state(run: Any) -> str:
    """A Run message's state as its code (draft publicised final)."""
    return enum_code(common_pb2.RunState.DESCRIPTOR, run.state)


def run_time(run: Any, field: str) -> str:
    """One of a Run message's instants as RFC 3339 in the county's time; "" when unset."""
    return rfc3339_of(run, field, LOCAL)


def grade_label(code: str) -> str:
    return label_of(GRADES, code) if code else ""


def category_label(code: str) -> str:
    return label_of(UNIT_CATEGORIES, code)
