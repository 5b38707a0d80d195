"""Which sheet holds which record type, and which column holds which FORMATS.md field, with its type.

One table drives the reader, the writer and the template: a record type, a field or a drop-down is
added here in one line (e.g. a field another service learns to store) and every form follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from services.common.scheme import Scheme
from services.common.vocabulary import (
    ACCOUNTABILITY_KINDS,
    ERROR_CATEGORIES,
    INCENTIVE_LEVELS,
    PRIORITIES,
    SEVERITIES,
    TASK_EVENT_KINDS,
    TOLERANCE_DECISIONS,
    UNIT_CATEGORIES,
    Terms,
)

# Cell types: how a clerk's cell becomes a JSON value (see cells.py).
TEXT, ID, UNIT, UNITS, INSTANT, DEADLINE, DATE, PERIOD, YEAR, NUMBER, BOOL, CHOICE = (
    "text",
    "id",
    "unit",
    "units",
    "instant",
    "deadline",
    "date",
    "period",
    "year",
    "number",
    "bool",
    "choice",
)
TYPE_HELP = {
    TEXT: "文字",
    ID: "编号（不超过64个字符，不含换行）",
    UNIT: "单位代码或单位名称",
    UNITS: "单位代码或名称，多个用顿号、逗号或分号隔开",
    INSTANT: "时间，如 2025-04-28 10:00（按方案时区；只写日期为当日 0:00）",
    DEADLINE: "时间，如 2025-05-12 18:00（按方案时区；只写日期为当日 23:59:59）",
    DATE: "日期，如 2025-06-01",
    PERIOD: "期间：年（2025）、月（2025-03）或日期（2025-03-31），请按文本填写",
    YEAR: "年度，如 2025",
    NUMBER: "数字",
    BOOL: "是或否",
    CHOICE: "从下拉列表中选择（代码或中文名称均可）",
}


@dataclass(frozen=True)
class Column:
    """One column: its Chinese header, the FORMATS field, the cell type, and whether it must be filled."""

    header: str
    field: str
    kind: str = TEXT
    required: bool = True
    # For CHOICE: the name of its list in Choices; open lists pass an unknown code through unchanged.
    choices: str = ""
    note: str = ""
    # Older names of the field a record may still carry (read when the field itself is absent).
    aliases: tuple[str, ...] = ()

    def value(self, record: Mapping[str, Any]) -> Any:
        """The field's value in a record, under its name or an older one."""
        found = record.get(self.field)
        for alias in self.aliases:
            if found is None:
                found = record.get(alias)
        return found


@dataclass(frozen=True)
class Sheet:
    """One sheet: its Chinese name, the ledger record type its rows are, and its columns."""

    name: str
    record_type: str
    columns: tuple[Column, ...]
    note: str = ""
    # The field whose value may name another row of the same sheet, written before it (parent first).
    parent: str = ""

    def column(self, name: str) -> Column | None:
        """The column of a field."""
        return next((c for c in self.columns if c.field == name), None)


def _c(
    header: str,
    name: str,
    kind: str = TEXT,
    *,
    required: bool = True,
    choices: str = "",
    note: str = "",
    aliases: tuple[str, ...] = (),
) -> Column:
    return Column(header, name, kind, required, choices, note, aliases)


# In dependency order: a row may refer to rows of the sheets above it (FORMATS.md, the ledger import).
SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "单位",
        "unit",
        (
            _c("单位代码", "id", ID),
            _c("单位名称", "name"),
            _c("类别", "category", CHOICE, choices="unit_category"),
            _c("上级单位", "parent", UNIT, required=False, note="村（社区）所属的乡镇"),
        ),
        "参加考核的单位",
        parent="parent",
    ),
    Sheet(
        "人员",
        "person",
        (
            _c("人员编号", "id", ID),
            _c("姓名", "name"),
            _c("所在单位", "unit", UNIT),
            _c("职务", "post"),
            _c("县级领导", "leader", BOOL, required=False, note="县级领导或班子成员填“是”"),
            _c("手机", "mobile", required=False),
        ),
        "责任人与包保领导",
    ),
    Sheet(
        "督办事项",
        "task",
        (
            _c("任务编号", "id", ID),
            _c("事项", "title"),
            _c("任务类型", "task_type", CHOICE, choices="task_type"),
            _c("牵头单位", "lead_unit", UNIT),
            _c("协办单位", "co_units", UNITS, required=False),
            _c("紧急程度", "priority", CHOICE, required=False, choices="priority", note="不填为一般"),
            _c("交办时间", "assigned_at", INSTANT),
            _c("截止时间", "due_at", DEADLINE, required=False, note="不填则按任务类型的时限计算"),
            _c("来源", "source", required=False),
            _c("责任人", "responsible", ID, required=False, note="牵头单位的人员编号"),
            _c("包保领导", "leader", ID, required=False, note="县级领导的人员编号"),
            _c("上级事项", "parent", ID, required=False, note="本事项是其分解任务时，填上级事项的任务编号"),
        ),
        "督办台账：每行一项任务",
        parent="parent",
    ),
    Sheet(
        "办理过程",
        "task_event",
        (
            _c("任务编号", "task", ID),
            _c("环节", "kind", CHOICE, choices="event_kind"),
            _c("时间", "at", INSTANT),
            _c("经办人", "by", required=False),
            _c("说明", "note", required=False),
            _c("新截止时间", "due_at", DEADLINE, required=False, note="环节为延期时必填"),
        ),
        "承办、进展、反馈、核查、退回、销号、撤销、延期，按发生先后填写",
    ),
    Sheet(
        "差错通报",
        "error_report",
        (
            _c("编号", "id", ID),
            _c("单位", "unit", UNIT),
            _c("日期", "date", DATE),
            _c("类别", "category", CHOICE, choices="error_category"),
            _c("严重程度", "severity", CHOICE, choices="severity"),
            _c("情况", "description"),
        ),
    ),
    Sheet(
        "指标值",
        "metric_reading",
        (
            _c("单位", "unit", UNIT),
            _c("指标", "metric", CHOICE, choices="metric"),
            _c("期间", "period", PERIOD),
            _c("数值", "value", NUMBER, required=False, note="数值型指标填此列"),
            _c("分子", "numerator", NUMBER, required=False, note="比率型指标填分子和分母"),
            _c("分母", "denominator", NUMBER, required=False),
        ),
        "同一单位、指标、期间只填一行",
    ),
    Sheet(
        "激励",
        "incentive",
        (
            _c("编号", "id", ID),
            _c("单位", "unit", UNIT),
            _c("日期", "date", DATE),
            _c("级别", "level", CHOICE, choices="level"),
            _c("事由", "reason"),
        ),
    ),
    Sheet(
        "容错纠错",
        "tolerance",
        (
            _c("编号", "id", ID),
            _c("单位", "unit", UNIT),
            _c("对象类型", "target_type", CHOICE, choices="tolerance_target"),
            _c("对象编号", "target", ID),
            _c("认定", "decision", CHOICE, choices="decision"),
            _c("日期", "date", DATE),
            _c("理由", "reason"),
        ),
    ),
    Sheet(
        "问责",
        "accountability",
        (
            _c("编号", "id", ID),
            _c("单位", "unit", UNIT),
            _c("日期", "date", DATE),
            _c("问责方式", "kind", CHOICE, choices="accountability_kind"),
            _c("事由", "reason"),
            _c("当事人", "person", required=False, note="人员代码或姓名（可不填）"),
            _c("决定机关", "decided_by", required=False, note="按照管理权限作出处理决定的机关（可不填）"),
        ),
    ),
    Sheet(
        "申诉",
        "appeal",
        (
            _c("编号", "id", ID),
            _c(
                "对象类型",
                "target_type",
                CHOICE,
                required=False,
                choices="appeal_target",
                note="不填为差错通报",
            ),
            _c("对象编号", "target", ID, aliases=("error_report",)),
            _c("日期", "date", DATE),
            _c("申诉成立", "upheld", BOOL, note="成立则撤销所申诉的记录"),
            _c("理由", "reason"),
        ),
    ),
    Sheet(
        "目标",
        "target",
        (
            _c("单位", "unit", UNIT),
            _c("指标", "metric", CHOICE, choices="metric"),
            _c("年度", "year", YEAR),
            _c("目标值", "target", NUMBER),
            _c("底线值", "floor", NUMBER, required=False, note="仅线性计分的指标"),
        ),
        "单位本年度的目标责任书目标",
    ),
)
SHEET_OF_TYPE: Mapping[str, Sheet] = MappingProxyType({s.record_type: s for s in SHEETS})
SHEET_NAMED: Mapping[str, Sheet] = MappingProxyType({s.name: s for s in SHEETS})
INSTRUCTIONS = "说明"
LISTS = "选项"

# Categories beyond the vocabulary's two that FORMATS.md names; any other code is taken as written.
_UNIT_CATEGORIES: Terms = {**UNIT_CATEGORIES, "village": "村（社区）"}
_EVENT_KINDS: Terms = {
    **{k: v for k, v in TASK_EVENT_KINDS.items() if k not in ("create", "assign")},
    "extend": TASK_EVENT_KINDS.get("extend", "延期"),
}
_OPEN_LISTS = frozenset({"unit_category"})


@dataclass(frozen=True)
class Choices:
    """Every drop-down's codes and Chinese labels: the fixed ones and the scheme's."""

    lists: Mapping[str, Terms] = field(default_factory=dict)

    def terms(self, name: str) -> Terms:
        return self.lists.get(name, {})

    def is_open(self, name: str) -> bool:
        return name in _OPEN_LISTS


def _labelled(codes: object, labels: Terms) -> Terms:
    return {str(code): labels.get(str(code), str(code)) for code in codes}  # type: ignore[attr-defined]


def choices_of(scheme: Scheme) -> Choices:
    """The drop-downs of a scheme: its task types, priorities, severities, levels, kinds and metrics."""
    return Choices(
        {
            "unit_category": _UNIT_CATEGORIES,
            "task_type": {code: t.name for code, t in scheme.task_types.items()},
            "priority": _labelled(scheme.timeliness.priority_weights, PRIORITIES),
            "event_kind": _EVENT_KINDS,
            "error_category": ERROR_CATEGORIES,
            "severity": _labelled(scheme.error_reports.deductions, SEVERITIES),
            "metric": {m.id: m.name for m in scheme.metrics},
            "level": _labelled(scheme.incentives.points, INCENTIVE_LEVELS),
            "tolerance_target": {"task": "督办事项", "error_report": "差错通报"},
            "decision": TOLERANCE_DECISIONS,
            "accountability_kind": _labelled(scheme.accountability.kinds, ACCOUNTABILITY_KINDS),
            "appeal_target": {"error_report": "差错通报", "accountability": "问责"},
        }
    )
