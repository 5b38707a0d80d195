"""Validation of the task side of a ledger file (unit, task, task_event lines): pure, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.errors import FieldViolation, InvalidArgument
from services.common.ids import ID_RULE, SAFE_ID, check_safe_id
from services.common.jsonlines import loads_line
from services.common.scheme import Scheme
from services.common.text import ID_MAX, NAME_MAX, NOTE_MAX, TITLE_MAX, check_id, check_text
from services.common.timeutil import parse_instant, to_epoch
from services.tasks.domain import Kind

# Ids of one safe alphabet (services/common/ids.py): none can become a path or a query.
ID_PATTERN = SAFE_ID
# More co-units than a county has units is no task.
MAX_CO_UNITS = 100
EVENT_KINDS = ("accept", "progress", "report", "reject", "verify", "close", "cancel", "extend")
FIELDS = {
    "unit": ({"type", "id", "name", "category"}, {"type", "id", "name", "category", "parent"}),
    "task": (
        {"type", "id", "title", "task_type", "lead_unit", "assigned_at"},
        {
            "type",
            "id",
            "title",
            "task_type",
            "lead_unit",
            "co_units",
            "priority",
            "assigned_at",
            "due_at",
            "source",
            "responsible",
            "leader",
            "parent",
        },
    ),
    "task_event": ({"type", "task", "kind", "at"}, {"type", "task", "kind", "at", "by", "note", "due_at"}),
    "person": (
        {"type", "id", "name", "unit", "post"},
        {"type", "id", "name", "unit", "post", "leader", "mobile"},
    ),
}


@dataclass(frozen=True)
class UnitRecord:
    line: int
    id: str
    name: str
    category: str
    parent: str = ""

    def canonical(self) -> str:
        return json.dumps(
            {"id": self.id, "name": self.name, "category": self.category}, sort_keys=True, ensure_ascii=False
        )


@dataclass(frozen=True)
class TaskRecord:
    line: int
    id: str
    title: str
    task_type: str
    lead_unit: str
    co_units: tuple[str, ...]
    priority: str
    assigned_at: datetime
    due_at: datetime | None
    source: str
    responsible: str = ""
    leader: str = ""
    parent: str = ""

    def people_and_parent(self) -> dict[str, str]:
        return {"responsible": self.responsible, "leader": self.leader, "parent": self.parent}

    def canonical(self) -> str:
        """The record as compared on re-import: instants as epoch seconds, defaults filled in."""
        # People and parts only when given: a task stored before they existed compares as it did.
        given = {k: v for k, v in self.people_and_parent().items() if v}
        return json.dumps(
            {
                **given,
                "id": self.id,
                "title": self.title,
                "task_type": self.task_type,
                "lead_unit": self.lead_unit,
                "co_units": list(self.co_units),
                "priority": self.priority,
                "assigned_at": to_epoch(self.assigned_at),
                "due_at": to_epoch(self.due_at) if self.due_at else None,
                "source": self.source,
            },
            sort_keys=True,
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class EventRecord:
    line: int
    task: str
    kind: Kind
    at: datetime
    by: str
    note: str
    # The new due instant of an extend (延期), None for every other kind.
    due_at: datetime | None = None

    def key(self) -> tuple[str, str, int]:
        """What identifies an event (events carry no id): its task, kind and instant."""
        return (self.task, self.kind.value, to_epoch(self.at))


@dataclass
class Parsed:
    units: list[UnitRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    persons: list[PersonRecord] = field(default_factory=list)


def _fail(line: int, name: str, rule: str) -> InvalidArgument:
    return _refuse(_at(line), name, rule)


def _at(line: int) -> str:
    """How a violation on a file's line names its field: "line 3: title"."""
    return f"line {line}: "


def _refuse(at: str, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"{at}{name}", rule)])


def _text(
    obj: dict[str, Any],
    name: str,
    at: str,
    *,
    required: bool = True,
    max_len: int = NOTE_MAX,
    allow_newlines: bool = False,
) -> str:
    value = obj.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _refuse(at, name, "须为非空字符串")
    return check_text(f"{at}{name}", value, max_len=max_len, allow_newlines=allow_newlines)


def _ident(obj: dict[str, Any], name: str, at: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _refuse(at, name, "须为非空字符串")
    if not ID_PATTERN.match(value):
        raise _refuse(at, name, ID_RULE)
    return check_id(f"{at}{name}", value, max_len=ID_MAX)


def check_fields(obj: dict[str, Any], line: int) -> None:
    """Required fields present, no unknown field."""
    required, allowed = FIELDS[obj["type"]]
    for name in sorted(required - obj.keys()):
        raise _fail(line, name, f"{obj['type']} 记录必须有此项")
    for name in sorted(obj.keys() - allowed):
        raise _fail(line, name, f"不是 {obj['type']} 记录的字段")


def parse_unit(obj: dict[str, Any], line: int) -> UnitRecord:
    check_fields(obj, line)
    return UnitRecord(
        line,
        _ident(obj, "id", _at(line)),
        _text(obj, "name", _at(line), max_len=NAME_MAX),
        _ident(obj, "category", _at(line)),
        _optional_ident(obj, "parent", _at(line)),
    )


def parse_task(obj: dict[str, Any], line: int, scheme: Scheme) -> TaskRecord:
    check_fields(obj, line)
    return task_fields(obj, scheme, line=line, at=_at(line))


def task_fields(obj: dict[str, Any], scheme: Scheme, *, line: int, at: str) -> TaskRecord:
    """A task's fields checked, the one validator of both a ledger line and CreateTask.

    at is how a violation names its field: "line 3: " before the name on a file's line, "" for a request.
    """
    task_type = _text(obj, "task_type", at)
    if task_type not in scheme.task_types:
        raise _refuse(
            at,
            "task_type",
            f"未知的任务类型 {task_type!r}；方案 {scheme.id} 中有：" + "、".join(sorted(scheme.task_types)),
        )
    priority = obj.get("priority")
    if priority is None:
        priority = "normal"
    if not isinstance(priority, str) or priority not in scheme.timeliness.priority_weights:
        raise _refuse(
            at,
            "priority",
            f"未知的优先级 {priority!r}；方案中有：" + "、".join(sorted(scheme.timeliness.priority_weights)),
        )
    lead = _ident(obj, "lead_unit", at)
    co_units = _co_units(obj, lead, at)
    assigned = _instant(obj, "assigned_at", at)
    due = _instant(obj, "due_at", at) if obj.get("due_at") is not None else None
    if due is not None and due < assigned:
        raise _refuse(at, "due_at", "不得早于交办时间 assigned_at")
    return TaskRecord(
        line,
        _ident(obj, "id", at),
        _text(obj, "title", at, max_len=TITLE_MAX),
        task_type,
        lead,
        co_units,
        priority,
        assigned,
        due,
        _text(obj, "source", at, required=False),
        _optional_ident(obj, "responsible", at),
        _optional_ident(obj, "leader", at),
        _optional_ident(obj, "parent", at),
    )


def _co_units(obj: dict[str, Any], lead: str, at: str) -> tuple[str, ...]:
    co_raw = obj.get("co_units")
    if co_raw is None:
        co_raw = []
    if not isinstance(co_raw, list) or not all(isinstance(c, str) for c in co_raw):
        raise _refuse(at, "co_units", "须为单位编号的列表")
    if len(co_raw) > MAX_CO_UNITS:
        raise _refuse(at, "co_units", f"最多列出 {MAX_CO_UNITS} 个单位")
    for unit in co_raw:
        check_safe_id(f"{at}co_units", unit)
    if lead in co_raw:
        raise _refuse(at, "co_units", f"不得包含牵头单位 {lead!r}")
    if len(set(co_raw)) != len(co_raw):
        raise _refuse(at, "co_units", "单位不得重复")
    return tuple(co_raw)


def parse_event(obj: dict[str, Any], line: int) -> EventRecord:
    check_fields(obj, line)
    kind = obj.get("kind")
    if kind not in EVENT_KINDS:
        raise _fail(line, "kind", "须为以下之一：" + "、".join(EVENT_KINDS))
    at = _instant(obj, "at", _at(line))
    due: datetime | None = None
    if kind == "extend":
        if obj.get("due_at") is None:
            raise _fail(line, "due_at", "延期（extend）须给出新的截止时间 due_at")
        due = _instant(obj, "due_at", _at(line))
        if due <= at:
            raise _fail(line, "due_at", f"延期后的截止时间须晚于延期的时间 at（{at.isoformat()}）")
    elif "due_at" in obj:
        raise _fail(line, "due_at", f"只有延期（extend）事件带 due_at，{kind} 事件不带")
    return EventRecord(
        line,
        _ident(obj, "task", _at(line)),
        Kind(kind),
        at,
        _text(obj, "by", _at(line), required=False, max_len=128),
        _text(obj, "note", _at(line), required=False, allow_newlines=True),
        due,
    )


def _instant(obj: dict[str, Any], name: str, at: str) -> datetime:
    try:
        return parse_instant(obj.get(name), field=name)
    except InvalidArgument as exc:
        raise _refuse(at, name, exc.violations[0].description) from None


def parse_lines(lines: list[tuple[int, str]], scheme: Scheme) -> Parsed:
    """Each line parsed and checked on its own; references are checked against storage later."""
    parsed = Parsed()
    for line, text in lines:
        obj = loads_line(text, line=line)
        if not isinstance(obj, dict):
            raise _fail(line, "json", "须为 JSON 对象")
        kind = obj.get("type")
        if kind == "unit":
            parsed.units.append(parse_unit(obj, line))
        elif kind == "task":
            parsed.tasks.append(parse_task(obj, line, scheme))
        elif kind == "task_event":
            parsed.events.append(parse_event(obj, line))
        elif kind == "person":
            parsed.persons.append(parse_person(obj, line))
        else:
            raise _fail(line, "type", f"{kind!r} 不是任务服务的记录类型")
    return parsed


# ---- people and levels (FORMATS.md: unit.parent, person, task.responsible / leader / parent)

# A mainland mobile number: 11 digits, the first a 1.
MOBILE = re.compile(r"^1[0-9]{10}$")


@dataclass(frozen=True)
class PersonRecord:
    """A person responsible for work (责任人), of one unit; `leader` for a 县级领导 / 班子成员."""

    line: int
    id: str
    name: str
    unit: str
    post: str
    leader: bool
    mobile: str

    def values(self) -> tuple[str, str, str, bool, str]:
        """What a re-import compares: everything but the id and the line."""
        return (self.name, self.unit, self.post, self.leader, self.mobile)


def _optional_ident(obj: dict[str, Any], name: str, at: str) -> str:
    """An optional id field: "" when absent (or null), checked as an id when given."""
    if obj.get(name) is None:
        return ""
    value = _ident(obj, name, at)
    if name == "parent" and value == obj.get("id"):
        raise _refuse(at, name, f"不能是记录自身（{value!r}）：上级不能指向自己")
    return value


def parse_person(obj: dict[str, Any], line: int) -> PersonRecord:
    check_fields(obj, line)
    leader = obj.get("leader", False)
    if leader is None:
        leader = False
    if not isinstance(leader, bool):
        raise _fail(line, "leader", "必须是 true 或 false（是否县级领导、班子成员）")
    mobile = obj.get("mobile")
    if mobile is None:
        mobile = ""
    if not isinstance(mobile, str) or (mobile and not MOBILE.match(mobile)):
        raise _fail(line, "mobile", "必须是 11 位手机号码（以 1 开头的 11 位数字，写成字符串）")
    return PersonRecord(
        line,
        _ident(obj, "id", _at(line)),
        _text(obj, "name", _at(line), max_len=NAME_MAX),
        _ident(obj, "unit", _at(line)),
        _text(obj, "post", _at(line), max_len=NAME_MAX),
        leader,
        mobile,
    )
