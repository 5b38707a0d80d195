"""A scheme's TOML document read into the dataclasses of scheme_model; violations named by key path."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.limits import LIMIT_UNITS, Limit, LimitUnit
from services.common.scheme_model import (
    AGGREGATES,
    DEFAULT_TIMEZONE,
    DIRECTIONS,
    METRIC_KINDS,
    RULES,
    Accountability,
    AccountabilityKind,
    BulletinHead,
    ErrorReports,
    Grades,
    Incentives,
    Metric,
    Scheme,
    TaskType,
    Timeliness,
    floor_problem,
)
from services.common.scheme_validate import MISSING, Validator, check_latest, is_number, join, type_name

__all__ = ["read_scheme"]

_TOP_KEYS = frozenset(
    {
        "scheme",
        "calendar",
        "task_types",
        "timeliness",
        "metrics",
        "errors",
        "incentives",
        "accountability",
        "grades",
        "runs",
        "bulletin",
    }
)


def read_scheme(v: Validator, doc: dict[str, Any], text: str) -> Scheme:
    """The scheme of a parsed TOML document; every violation found is recorded in v."""
    v.keys(doc, "", _TOP_KEYS)

    head = v.table(doc, "scheme", "", required=True) or {}
    v.keys(head, "scheme", {"id", "name", "year", "timezone", "jurisdiction"})
    scheme_id = v.string(head, "id", "scheme")
    name = v.string(head, "name", "scheme")
    year = v.integer(head, "year", "scheme", minimum=1990, maximum=2100)
    timezone = v.string(head, "timezone", "scheme", default=DEFAULT_TIMEZONE)
    if "timezone" in head and isinstance(head["timezone"], str) and head["timezone"].strip():
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            v.bad("scheme.timezone", f'未知时区 "{timezone}"（请用 IANA 名称，如 Asia/Shanghai）')
            timezone = DEFAULT_TIMEZONE

    cal = v.table(doc, "calendar", "") or {}
    v.keys(cal, "calendar", {"extra_holidays", "extra_workdays"})
    extra_holidays = v.date_list(cal, "extra_holidays", "calendar")
    extra_workdays = v.date_list(cal, "extra_workdays", "calendar")

    task_types = _read_task_types(v, doc)
    timeliness = _read_timeliness(v, doc)
    metrics = _read_metrics(v, doc)
    error_reports = _read_error_reports(v, doc)
    incentives = _read_incentives(v, doc)
    accountability = _read_accountability(v, doc)
    grades = _read_grades(v, doc)

    runs = v.table(doc, "runs", "") or {}
    v.keys(runs, "runs", {"appeal_window_working_days"})
    appeal = v.integer(runs, "appeal_window_working_days", "runs", default=5, minimum=0)
    jurisdiction = v.string(head, "jurisdiction", "scheme", default="")
    bulletin = _read_bulletin(v, doc)

    return Scheme(
        id=scheme_id,
        name=name,
        year=year,
        timezone=timezone,
        extra_holidays=tuple(sorted(set(extra_holidays))),
        extra_workdays=tuple(sorted(set(extra_workdays))),
        task_types=MappingProxyType(task_types),
        timeliness=timeliness,
        metrics=metrics,
        error_reports=error_reports,
        incentives=incentives,
        accountability=accountability,
        grades=grades,
        appeal_window_working_days=appeal,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        jurisdiction=jurisdiction,
        bulletin=bulletin,
    )


# A 文号 prefix is the issuer's short name and the document kind (宁政办督); the year in 〔〕 and the
# number follow it, so brackets, digits or spaces in the prefix would make a malformed 文号.
_DOC_PREFIX_FORBIDDEN = re.compile(r"[\s〔〕\[\]()（）0-9０-９号]")


def _read_bulletin(v: Validator, doc: Mapping[str, Any]) -> BulletinHead:
    table = v.table(doc, "bulletin", "") or {}
    v.keys(table, "bulletin", {"issuer", "doc_prefix"})
    issuer = v.string(table, "issuer", "bulletin", default=BulletinHead.issuer)
    prefix = v.string(table, "doc_prefix", "bulletin", default="")
    if isinstance(table.get("doc_prefix"), str) and _DOC_PREFIX_FORBIDDEN.search(prefix):
        v.bad(
            "bulletin.doc_prefix",
            f"发文字号前缀「{prefix}」不应含空格、括号、数字或“号”：年份〔YYYY〕与序号由系统添加",
        )
    return BulletinHead(issuer=issuer, doc_prefix=prefix)


def _read_limit(
    v: Validator, table: Mapping[str, Any], key: str, path: str, *, required: bool
) -> Limit | None:
    sub = v.table(table, key, path, required=required)
    if sub is None:
        return None
    full = join(path, key)
    v.keys(sub, full, {"amount", "unit"})
    amount = v.integer(sub, "amount", full, minimum=1)
    unit = v.string(sub, "unit", full, choices=LIMIT_UNITS)
    return Limit(amount=amount, unit=cast(LimitUnit, unit or "working_days"))


def _read_task_types(v: Validator, doc: Mapping[str, Any]) -> dict[str, TaskType]:
    section = v.table(doc, "task_types", "") or {}
    out: dict[str, TaskType] = {}
    for type_id in section:
        path = join("task_types", type_id)
        t = v.table(section, type_id, "task_types")
        if t is None:
            continue
        v.keys(t, path, {"name", "limit", "progress_every", "latest"})
        name = v.string(t, "name", path, default=type_id)
        limit = _read_limit(v, t, "limit", path, required=True) or Limit(1, "working_days")
        every = _read_limit(v, t, "progress_every", path, required=False)
        latest = _read_limit(v, t, "latest", path, required=False)
        if latest is not None:
            check_latest(v, join(path, "latest"), limit=limit, latest=latest)
        out[type_id] = TaskType(id=type_id, name=name, limit=limit, progress_every=every, latest=latest)
    return out


def _read_timeliness(v: Validator, doc: Mapping[str, Any]) -> Timeliness:
    t = v.table(doc, "timeliness", "")
    present = t is not None
    t = t or {}
    p = "timeliness"
    v.keys(
        t,
        p,
        {"points", "late_penalty_per_working_day", "yellow_threshold", "co_unit_weight", "priority_weights"},
    )
    weights = v.number_map(t, "priority_weights", p) if "priority_weights" in t else {"normal": 1.0}
    return Timeliness(
        points=v.number(t, "points", p, minimum=0, default=MISSING if present else 0.0),
        late_penalty_per_working_day=v.number(
            t, "late_penalty_per_working_day", p, minimum=0, default=MISSING if present else 0.0
        ),
        yellow_threshold=v.number(t, "yellow_threshold", p, minimum=0, maximum=1, default=0.8),
        co_unit_weight=v.number(t, "co_unit_weight", p, minimum=0, default=1.0),
        priority_weights=MappingProxyType(weights),
    )


_METRIC_KEYS = frozenset(
    {"id", "name", "kind", "aggregate", "direction", "rule", "target", "floor", "points", "applies_to"}
)


def _read_metrics(v: Validator, doc: Mapping[str, Any]) -> tuple[Metric, ...]:
    if "metrics" not in doc:
        return ()
    raw = doc["metrics"]
    if not isinstance(raw, list):
        v.bad("metrics", f"须为表的数组（[[metrics]]），不能是{type_name(raw)}")
        return ()
    out: list[Metric] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(raw):
        p = f"metrics[{i}]"
        if not isinstance(m, dict):
            v.bad(p, f"须为表，不能是{type_name(m)}")
            continue
        v.keys(m, p, _METRIC_KEYS)
        metric_id = v.string(m, "id", p)
        if metric_id:
            if metric_id in seen:
                v.bad(f"{p}.id", f'指标编号 "{metric_id}" 重复（metrics[{seen[metric_id]}] 也用了）')
            else:
                seen[metric_id] = i
        out.append(_read_metric(v, m, p, metric_id))
    return tuple(out)


def _read_metric(v: Validator, m: Mapping[str, Any], p: str, metric_id: str) -> Metric:
    """The metric of one [[metrics]] table after its keys and id are checked."""
    name = v.string(m, "name", p, default=metric_id)
    kind = v.string(m, "kind", p, choices=METRIC_KINDS)
    aggregate: str | None = None
    if kind == "value":
        if "aggregate" not in m:
            v.bad(f"{p}.aggregate", 'kind = "value" 时为必需项')
        else:
            aggregate = v.string(m, "aggregate", p, choices=AGGREGATES) or None
    elif "aggregate" in m and kind == "ratio":
        v.bad(f"{p}.aggregate", '只用于 kind = "value"（比率为 Σ numerator / Σ denominator）')
    direction = v.string(m, "direction", p, choices=DIRECTIONS, default="min")
    rule = v.string(m, "rule", p, choices=RULES)
    target = v.number(m, "target", p)
    floor: float | None = None
    if rule == "linear":
        if "floor" not in m:
            v.bad(f"{p}.floor", 'rule = "linear" 时为必需项')
        else:
            floor = v.number(m, "floor", p)
            _check_floor(v, p, m, floor, target, direction)
    elif "floor" in m and rule:
        v.bad(f"{p}.floor", f'只用于 rule = "linear"，不用于 "{rule}"')
    if rule == "proportional" and is_number(m.get("target")) and target <= 0:
        v.bad(f"{p}.target", f'rule = "proportional" 时须大于 0，现为 {m["target"]}')
    return Metric(
        id=metric_id,
        name=name,
        kind=kind,
        aggregate=aggregate,
        direction=direction,
        rule=rule,
        target=target,
        floor=floor,
        points=v.number(m, "points", p, minimum=0),
        applies_to=v.string_list(m, "applies_to", p),
    )


def _check_floor(
    v: Validator, p: str, m: Mapping[str, Any], floor: float, target: float, direction: str
) -> None:
    if not (is_number(m.get("floor")) and is_number(m.get("target"))):
        return
    problem = floor_problem(floor=floor, target=target, direction=direction)
    if problem:
        v.bad(f"{p}.floor", problem)


def _read_error_reports(v: Validator, doc: Mapping[str, Any]) -> ErrorReports:
    t = v.table(doc, "errors", "")
    present = t is not None
    t = t or {}
    v.keys(t, "errors", {"cap", "mitigation_factor", "deductions"})
    return ErrorReports(
        cap=v.number(t, "cap", "errors", minimum=0, default=MISSING if present else 0.0),
        mitigation_factor=v.number(
            t, "mitigation_factor", "errors", minimum=0, maximum=1, default=MISSING if present else 1.0
        ),
        deductions=MappingProxyType(v.number_map(t, "deductions", "errors")),
    )


def _read_incentives(v: Validator, doc: Mapping[str, Any]) -> Incentives:
    t = v.table(doc, "incentives", "")
    present = t is not None
    t = t or {}
    v.keys(t, "incentives", {"cap", "points"})
    return Incentives(
        cap=v.number(t, "cap", "incentives", minimum=0, default=MISSING if present else 0.0),
        points=MappingProxyType(v.number_map(t, "points", "incentives")),
    )


def _read_accountability(v: Validator, doc: Mapping[str, Any]) -> Accountability:
    t = v.table(doc, "accountability", "")
    present = t is not None
    t = t or {}
    v.keys(t, "accountability", {"cap", "kinds"})
    cap = v.number(t, "cap", "accountability", minimum=0, default=MISSING if present else 0.0)
    kinds: dict[str, AccountabilityKind] = {}
    section = v.table(t, "kinds", "accountability") or {}
    for kind in section:
        path = join("accountability.kinds", kind)
        k = v.table(section, kind, "accountability.kinds")
        if k is None:
            continue
        v.keys(k, path, {"deduction", "veto"})
        kinds[kind] = AccountabilityKind(
            deduction=v.number(k, "deduction", path, minimum=0),
            veto=v.boolean(k, "veto", path, default=False),
        )
    return Accountability(cap=cap, kinds=MappingProxyType(kinds))


def _read_grades(v: Validator, doc: Mapping[str, Any]) -> Grades:
    # Every unit is graded, so the bands come from the scheme, never from code (SCORING.md).
    t = v.table(doc, "grades", "", required=True)
    if t is None:
        return Grades(excellent_min=0.0, excellent_quota=0.0, good_min=0.0, pass_min=0.0)  # refused already
    v.keys(t, "grades", {"excellent_min", "excellent_quota", "good_min", "pass_min"})
    before = len(v.violations)
    grades = Grades(
        excellent_min=v.number(t, "excellent_min", "grades"),
        excellent_quota=v.number(t, "excellent_quota", "grades", minimum=0, maximum=1),
        good_min=v.number(t, "good_min", "grades"),
        pass_min=v.number(t, "pass_min", "grades"),
    )
    if len(v.violations) == before:
        if grades.pass_min > grades.good_min:
            v.bad("grades.pass_min", f"不得超过 good_min（{grades.pass_min:g} > {grades.good_min:g}）")
        if grades.good_min > grades.excellent_min:
            v.bad(
                "grades.good_min",
                f"不得超过 excellent_min（{grades.good_min:g} > {grades.excellent_min:g}）",
            )
    return grades
