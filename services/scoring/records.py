"""Validation of the assessment records of FORMATS.md against the scheme: pure, no I/O."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import FieldViolation, InvalidArgument
from services.common.ids import ID_RULE, SAFE_ID
from services.common.scheme import Scheme
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.common.timeutil import parse_date, parse_period
from services.common.vocabulary import ERROR_CATEGORIES as ERROR_CATEGORY_LABELS
from services.common.vocabulary import RECORD_KINDS

# What an appeal may contest: the records an upheld appeal voids.
APPEAL_TARGETS = ("error_report", "accountability")
ERROR_CATEGORIES = tuple(ERROR_CATEGORY_LABELS)
# Ids of one safe alphabet (services/common/ids.py): none can become a path or a query.
ID_PATTERN = SAFE_ID

_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "error_report": ({"id", "unit", "date", "category", "severity", "description"}, set()),
    "metric_reading": ({"unit", "metric", "period"}, {"value", "numerator", "denominator"}),
    "incentive": ({"id", "unit", "date", "level", "reason"}, set()),
    "tolerance": ({"id", "unit", "target_type", "target", "decision", "date", "reason"}, set()),
    # person and decided_by: who is concerned and who decided (宁强 20 "按照管理权限，由有关机关"), optional.
    "accountability": ({"id", "unit", "date", "kind", "reason"}, {"person", "decided_by"}),
    "appeal": ({"id", "date", "reason"}, {"target_type", "target", "error_report", "upheld"}),
    "target": ({"unit", "metric", "year", "target"}, {"floor"}),
}


@dataclass(frozen=True)
class Record:
    """One validated record: what identifies it, whom it concerns, and its fields as stored."""

    kind: str
    rid: str
    unit: str
    year: int
    payload: dict[str, Any]
    line: int = 0
    # The field that named what the record points at, as written (an appeal's target or error_report).
    named: str = "target"

    def canonical(self) -> str:
        return json.dumps(self.payload, sort_keys=True, ensure_ascii=False)


def _where(line: int, name: str) -> str:
    return f"line {line}: {name}" if line else name


def _fail(line: int, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(_where(line, name), rule)])


def _text(obj: dict[str, Any], name: str, line: int, max_len: int = NOTE_MAX) -> str:
    """A free text field (a description, a reason): lines and tabs allowed, other controls not."""
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _fail(line, name, "须为非空字符串")
    return check_text(_where(line, name), value, max_len=max_len, allow_newlines=True)


# An accountability record's optional names: the person concerned (a person id, or a name) and the
# deciding body (有关机关); one line each, stored only when given.
ACCOUNTABILITY_NAMES = {"person": ("当事人", 64), "decided_by": ("决定机关", 100)}


def _optional_names(obj: dict[str, Any], line: int) -> dict[str, str]:
    """The accountability record's person and decided_by when given (absent or empty: not stored)."""
    found = {}
    for name, (label, max_len) in ACCOUNTABILITY_NAMES.items():
        value = obj.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not value.strip():
            raise _fail(line, name, f"{label}须为非空文字（人员代码或姓名、机关名称），不写则省略该字段")
        found[name] = check_text(_where(line, name), value.strip(), max_len=max_len)
    return found


def _ident(obj: dict[str, Any], name: str, line: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _fail(line, name, "须为非空字符串")
    if not ID_PATTERN.match(value):
        raise _fail(line, name, ID_RULE)
    return check_id(_where(line, name), value, max_len=ID_MAX)


def _choice(obj: dict[str, Any], name: str, line: int, allowed: Any, what: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(line, name, f"未知的{what} {value!r}；可选：{'、'.join(sorted(allowed))}")
    return value


def _number(obj: dict[str, Any], name: str, line: int) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(line, name, "须为数字")
    if not math.isfinite(value):
        raise _fail(line, name, "须为有限数")
    if value < 0:
        raise _fail(line, name, "不得为负数")
    return float(value)


def _date(obj: dict[str, Any], name: str, line: int) -> str:
    try:
        return parse_date(obj.get(name), field=name).isoformat()
    except InvalidArgument as exc:
        raise _fail(line, name, exc.violations[0].description) from None


def parse_record(kind: str, obj: dict[str, Any], scheme: Scheme, *, line: int = 0) -> Record:
    """A record checked field by field against FORMATS.md and the scheme; raises InvalidArgument."""
    if kind not in _FIELDS:
        raise _fail(line, "type", f"{kind!r} 不是考核记录类型（{'、'.join(RECORD_KINDS)}）")
    required, optional = _FIELDS[kind]
    present = set(obj) - {"type"}
    for name in sorted(required - present):
        raise _fail(line, name, f"{kind} 记录必须有此项")
    for name in sorted(present - required - optional):
        raise _fail(line, name, f"不是 {kind} 记录的字段")
    if kind == "metric_reading":
        return _reading(obj, scheme, line)
    if kind == "target":
        return _target(obj, scheme, line)
    rid = _ident(obj, "id", line)
    day = _date(obj, "date", line)
    payload: dict[str, Any] = {"id": rid, "date": day}
    unit, named = "", "target"
    if kind != "appeal":
        unit = payload["unit"] = _ident(obj, "unit", line)
    if kind == "error_report":
        payload["category"] = _choice(obj, "category", line, ERROR_CATEGORIES, "差错类别")
        payload["severity"] = _choice(obj, "severity", line, scheme.error_reports.deductions, "严重程度")
        payload["description"] = _text(obj, "description", line)
    elif kind == "incentive":
        payload["level"] = _choice(obj, "level", line, scheme.incentives.points, "激励级别")
        payload["reason"] = _text(obj, "reason", line)
    elif kind == "tolerance":
        payload["target_type"] = _choice(obj, "target_type", line, ("task", "error_report"), "申诉对象类型")
        payload["target"] = _ident(obj, "target", line)
        payload["decision"] = _choice(obj, "decision", line, ("exempt", "mitigate"), "容错决定")
        payload["reason"] = _text(obj, "reason", line)
    elif kind == "accountability":
        payload["kind"] = _choice(obj, "kind", line, scheme.accountability.kinds, "问责种类")
        payload["reason"] = _text(obj, "reason", line)
        payload.update(_optional_names(obj, line))
    elif kind == "appeal":
        payload["target_type"], payload["target"] = _appealed(obj, line)
        named = "error_report" if "error_report" in obj else "target"
        upheld = obj.get("upheld")
        if upheld is not None and not isinstance(upheld, bool):
            raise _fail(line, "upheld", "须为 true 或 false")
        payload["upheld"] = upheld
        payload["reason"] = _text(obj, "reason", line)
    return Record(kind, rid, unit, int(day[:4]), payload, line, named)


def _appealed(obj: dict[str, Any], line: int) -> tuple[str, str]:
    """(target_type, target) of an appeal; the older field error_report names an error report."""
    target_type = obj.get("target_type", "error_report")
    if target_type not in APPEAL_TARGETS:
        raise _fail(
            line, "target_type", f"未知的 target_type {target_type!r}；可选：{'、'.join(APPEAL_TARGETS)}"
        )
    if "error_report" in obj:
        if "target" in obj:
            raise _fail(line, "error_report", "target 与旧的 error_report 只能给一个")
        if target_type != "error_report":
            raise _fail(line, "error_report", f"此项指差错通报；对 {target_type} 的申诉请写在 target 中")
        return target_type, _ident(obj, "error_report", line)
    if "target" not in obj:
        raise _fail(line, "target", "申诉记录必须有此项（被申诉的记录）")
    return target_type, _ident(obj, "target", line)


def appealed(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(target_type, target) of a stored appeal's fields."""
    return str(payload["target_type"]), str(payload["target"])


def _finite(obj: dict[str, Any], name: str, line: int) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(line, name, "须为有限数")
    return float(value)


def _target(obj: dict[str, Any], scheme: Scheme, line: int) -> Record:
    """A unit's own annual target for a metric (目标责任书), identified by (unit, metric, year)."""
    unit = _ident(obj, "unit", line)
    metric_id = _choice(obj, "metric", line, {m.id for m in scheme.metrics}, "指标")
    year = obj.get("year")
    # A year read from a protobuf Struct arrives as a float: a whole one is a year.
    if isinstance(year, float) and year.is_integer():
        year = int(year)
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        raise _fail(line, "year", "须为 1990 到 2100 之间的年份")
    target = _finite(obj, "target", line)
    floor = _finite(obj, "floor", line) if "floor" in obj else None
    problem = scheme.metric(metric_id).unit_target_problem(target=target, floor=floor)
    if problem:
        raise _fail(line, problem[0], problem[1])
    payload: dict[str, Any] = {"unit": unit, "metric": metric_id, "year": year, "target": target}
    if floor is not None:
        payload["floor"] = floor
    return Record("target", f"{unit}/{metric_id}/{year}", unit, year, payload, line)


def _reading(obj: dict[str, Any], scheme: Scheme, line: int) -> Record:
    unit = _ident(obj, "unit", line)
    metric_id = _choice(obj, "metric", line, {m.id for m in scheme.metrics}, "指标")
    metric = scheme.metric(metric_id)
    try:
        period = parse_period(obj.get("period"), field="period")
    except InvalidArgument as exc:
        raise _fail(line, "period", exc.violations[0].description) from None
    payload: dict[str, Any] = {"unit": unit, "metric": metric_id, "period": period}
    if metric.kind == "ratio":
        if "value" in obj:
            raise _fail(line, "value", f"{metric_id} 是比率指标：请给 numerator 和 denominator，不要给 value")
        for name in ("numerator", "denominator"):
            if name not in obj:
                raise _fail(line, name, f"比率指标 {metric_id} 必须有此项")
        numerator, denominator = _number(obj, "numerator", line), _number(obj, "denominator", line)
        if numerator > denominator:
            raise _fail(
                line,
                "numerator",
                f"{numerator:g} 超过分母 {denominator:g}：{metric_id} 是占比",
            )
        payload |= {"numerator": numerator, "denominator": denominator}
    else:
        if "numerator" in obj or "denominator" in obj:
            raise _fail(line, "numerator", f"{metric_id} 是数值指标：请给 value，不要给比率")
        if "value" not in obj:
            raise _fail(line, "value", f"数值指标 {metric_id} 必须有此项")
        payload["value"] = _number(obj, "value", line)
    return Record("metric_reading", f"{unit}/{metric_id}/{period}", unit, int(period[:4]), payload, line)


def referenced_tasks(batch: list[Record], *, pending: Mapping[str, Any]) -> list[str]:
    """The ids of tasks the batch's tolerance decisions point at that are not in the same import."""
    return [
        r.payload["target"]
        for r in batch
        if r.kind == "tolerance" and r.payload["target_type"] == "task" and r.payload["target"] not in pending
    ]


def referenced(batch: list[Record]) -> set[tuple[str, str]]:
    """(kind, id) of the error reports and accountability records the batch's records point at."""
    tolerated = {
        ("error_report", r.payload["target"])
        for r in batch
        if r.kind == "tolerance" and r.payload["target_type"] == "error_report"
    }
    return tolerated | {appealed(r.payload) for r in batch if r.kind == "appeal"}


def _violation(where: str, name: str, rule: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"{where}{name}", rule)])


def check_references(
    batch: list[Record],
    *,
    known_units: set[str],
    task_units: Mapping[str, tuple[str, list[str]]],
    stored: Mapping[tuple[str, str], str],
) -> None:
    """Units, tasks and records that records point at exist (stored or earlier in the batch).

    stored maps (kind, id) of the stored records pointed at to their units.
    """
    earlier: dict[tuple[str, str], str] = {}
    for record in batch:
        where = f"line {record.line}: " if record.line else ""
        if record.unit and record.unit not in known_units:
            raise _violation(where, "unit", f"单位 {record.unit!r} 不存在")
        if record.kind in APPEAL_TARGETS:
            earlier.setdefault((record.kind, record.rid), record.unit)
        if record.kind == "tolerance":
            target = record.payload["target"]
            if record.payload["target_type"] == "task":
                if target not in task_units:
                    raise _violation(where, "target", f"任务 {target!r} 不存在")
                lead, co = task_units[target]
                if record.unit != lead and record.unit not in co:
                    raise _violation(where, "target", f"任务 {target!r} 不是单位 {record.unit!r} 的任务")
            else:
                key = ("error_report", target)
                owner = stored.get(key) or earlier.get(key, "")
                if not owner:
                    raise _violation(
                        where, "target", f"差错通报 {target!r} 不存在（既未存储，也不在前面的行中）"
                    )
                if owner != record.unit:
                    raise _violation(
                        where, "target", f"差错通报 {target!r} 涉及的是 {owner}，不是 {record.unit}"
                    )
        if record.kind == "appeal":
            key = appealed(record.payload)
            if not (stored.get(key) or earlier.get(key, "")):
                noun = "差错通报" if key[0] == "error_report" else "问责记录"
                raise _violation(
                    where, record.named, f"{noun} {key[1]!r} 不存在（既未存储，也不在前面的行中）"
                )


def sort_batch(
    batch: list[Record], stored: Mapping[tuple[str, str], tuple[str, bool]]
) -> tuple[dict[tuple[str, str], Record], set[tuple[str, str]], Counter[str], Counter[str]]:
    """(records to store, those of them replacing a voided one, created and unchanged counts per kind).

    A record stored (or earlier in the batch) with the same fields is left alone; with other fields it
    is refused, naming its line.
    """
    created: Counter[str] = Counter()
    unchanged: Counter[str] = Counter()
    fresh: dict[tuple[str, str], Record] = {}
    replaced: set[tuple[str, str]] = set()
    for record in batch:
        key = (record.kind, record.rid)
        if key in stored and stored[key][1] and key not in fresh:
            # A voided record may be recorded anew under its id: that is how a reading is corrected.
            replaced.add(key)
            fresh[key] = record
            created[record.kind] += 1
            continue
        before = stored[key][0] if key in stored else (fresh[key].canonical() if key in fresh else None)
        if before is not None:
            if before != record.canonical():
                raise _fail(
                    record.line,
                    "id",
                    f"{record.kind} {record.rid!r} 已按其他值记录；不接受以已有编号改动的记录",
                )
            unchanged[record.kind] += 1
            continue
        fresh[key] = record
        created[record.kind] += 1
    return fresh, replaced, created, unchanged


def record_row(record: Record, *, unit: str, stamp: int) -> dict[str, Any]:
    """The row of the records table that stores record, as first stored."""
    return {
        "kind": record.kind,
        "rid": record.rid,
        "unit": unit,
        "year": record.year,
        "payload": record.canonical(),
        "voided": False,
        "void_reason": "",
        "created_at": stamp,
        "updated_at": stamp,
        "version": 1,
    }
