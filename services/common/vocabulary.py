"""The codes Kaohe stores and speaks, each with the Chinese label people read: one table per idea."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ACCOUNTABILITY_KINDS",
    "COLOURS",
    "ERROR_CATEGORIES",
    "EXTENSION_DECISIONS",
    "EXTENSION_STATES",
    "GRADES",
    "INCENTIVE_LEVELS",
    "LEDGER_LINE_TYPES",
    "METRIC_STATUSES",
    "OUTCOMES",
    "PRIORITIES",
    "RECORD_KINDS",
    "RECORD_KIND_LABELS",
    "ROLES",
    "RUN_STATES",
    "SEVERITIES",
    "TASK_EVENT_KINDS",
    "TASK_LINE_TYPES",
    "TASK_NOTE_KINDS",
    "TASK_ROLES",
    "TASK_STATES",
    "TOLERANCE_DECISIONS",
    "UNIT_CATEGORIES",
    "code_of",
    "label_of",
]

Terms = Mapping[str, str]

# The assessment records kept by scoring (FORMATS.md), in the order the contract lists them.
RECORD_KIND_LABELS: Terms = {
    "error_report": "差错通报",
    "metric_reading": "指标值",
    "incentive": "激励",
    "tolerance": "容错纠错",
    "accountability": "问责",
    "appeal": "申诉",
    "target": "目标责任",
}
RECORD_KINDS: tuple[str, ...] = tuple(RECORD_KIND_LABELS)

# The ledger lines kept by tasks; with RECORD_KINDS, every `type` a ledger line may have.
TASK_LINE_TYPES: Terms = {"unit": "单位", "task": "任务", "task_event": "任务事件", "person": "责任人"}
LEDGER_LINE_TYPES: Terms = {**TASK_LINE_TYPES, **RECORD_KIND_LABELS}

TASK_STATES: Terms = {
    "created": "已立项",
    "assigned": "已交办",
    "accepted": "承办中",
    "reported": "已反馈",
    "verified": "已核查",
    "closed": "已销号",
    "cancelled": "已撤销",
}
TASK_EVENT_KINDS: Terms = {
    "create": "立项",
    "assign": "交办",
    "accept": "承办",
    "progress": "进展",
    "report": "反馈",
    "reject": "退回",
    "verify": "核查",
    "close": "销号",
    "cancel": "撤销",
    "extend": "延期",
}
# History entries that record what Kaohe did about a task, not a step of its closed loop:
# the replay, the colours and the scoring facts pass over them.
TASK_NOTE_KINDS: Terms = {"remind": "催办", "due_move": "期限调整", "attachment": "附件"}
COLOURS: Terms = {"blue": "蓝", "yellow": "黄", "red": "红"}
OUTCOMES: Terms = {"on_time": "按时", "late": "逾期"}
# A unit's part in a task it is counted for.
TASK_ROLES: Terms = {"lead": "牵头", "co": "协办"}

SEVERITIES: Terms = {"general": "一般", "serious": "较重", "grave": "严重"}
ERROR_CATEGORIES: Terms = {
    "meeting": "会议筹办",
    "drafting": "文稿起草",
    "implementation": "推动落实",
    "information": "信息报送",
    "other": "其他",
}
INCENTIVE_LEVELS: Terms = {"national": "国家级", "provincial": "省级", "municipal": "市级", "county": "县级"}
ACCOUNTABILITY_KINDS: Terms = {
    "interview": "约谈",
    "circulated_criticism": "通报批评",
    "admonishment": "诫勉",
    "disciplinary": "党纪政务处分",
}
TOLERANCE_DECISIONS: Terms = {"exempt": "免责", "mitigate": "减轻"}
METRIC_STATUSES: Terms = {"met": "达标", "below": "未达标", "missing": "缺报", "not_applicable": "不适用"}

GRADES: Terms = {"excellent": "优秀", "good": "良好", "fair": "一般", "poor": "较差"}
UNIT_CATEGORIES: Terms = {"department": "部门", "township": "乡镇", "village": "村（社区）"}
# A run is a draft until 公示, then final at 定档; a corrected run is superseded by its successor.
RUN_STATES: Terms = {"draft": "草稿", "publicised": "公示中", "final": "已定档", "superseded": "已更正"}
ROLES: Terms = {"office": "考核办", "supervisor": "督查室", "department": "单位", "viewer": "查阅"}
# 延期申请: a department asks, the office approves (an `extend` event) or refuses.
EXTENSION_STATES: Terms = {"pending": "待审批", "approved": "已批准", "refused": "不予批准"}
EXTENSION_DECISIONS: Terms = {"approved": "批准", "refused": "不予批准"}


def label_of(terms: Terms, code: str) -> str:
    """The Chinese label of code, or code itself when the table does not know it."""
    return terms.get(code, code)


def code_of(terms: Terms, text: str) -> str | None:
    """The code that text names, given as the code or as its Chinese label; None when neither."""
    if text in terms:
        return text
    return next((code for code, label in terms.items() if label == text), None)


# The priorities the presets weigh (a scheme may name others, shown by their code).
PRIORITIES: Terms = {"normal": "一般", "important": "重要", "urgent": "紧急"}
