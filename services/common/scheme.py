"""The scheme (考核方案): a TOML file read into frozen, validated dataclasses (FORMATS.md)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, NotFound, SchemeInvalid
from services.common.holiday_notice import HolidayNotice
from services.common.limits import LIMIT_UNITS, Limit, LimitUnit
from services.common.scheme_validate import MISSING, Validator, check_latest, is_number, join, type_name

__all__ = [
    "AGGREGATES",
    "DIRECTIONS",
    "METRIC_KINDS",
    "RULES",
    "Accountability",
    "AccountabilityKind",
    "ErrorReports",
    "Grades",
    "Incentives",
    "Metric",
    "MetricNotFound",
    "Scheme",
    "TaskType",
    "Timeliness",
    "check_applies_to",
    "load_scheme",
    "load_scheme_file",
]

METRIC_KINDS = ("ratio", "value")
AGGREGATES = ("sum", "mean", "max", "min", "last")
DIRECTIONS = ("min", "max")
RULES = ("threshold", "proportional", "linear")

DEFAULT_TIMEZONE = "Asia/Shanghai"


class MetricNotFound(NotFound, KeyError):
    """The scheme has no metric of that id."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message reads better as written.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class TaskType:
    """A kind of task and its time limit (时限)."""

    id: str
    name: str
    limit: Limit
    progress_every: Limit | None
    # The hard cut-off (SCORING.md §2): a report after it earns nothing while the due is the computed one.
    latest: Limit | None = None


@dataclass(frozen=True)
class Metric:
    """An indicator (指标) with its rule, target and points."""

    id: str
    name: str
    kind: str
    aggregate: str | None
    direction: str
    rule: str
    target: float
    floor: float | None
    points: float
    applies_to: tuple[str, ...]

    def unit_target_problem(self, *, target: float, floor: float | None) -> tuple[str, str] | None:
        """(field, rule) broken by a unit's own target (and floor) for this metric, None when none is.

        A unit's floor applies to the linear rule only; without one, the metric's floor is the unit's.
        """
        if floor is not None and self.rule != "linear":
            return "floor", f'applies only to rule = "linear"; metric {self.id} is "{self.rule}"'
        if self.rule == "proportional" and target <= 0:
            return "target", f'must be greater than 0 for rule = "proportional", got {target:g}'
        if self.rule != "linear":
            return None
        if floor is not None:
            problem = floor_problem(floor=floor, target=target, direction=self.direction)
            return ("floor", problem) if problem else None
        metric_floor = self.floor if self.floor is not None else target
        if floor_problem(floor=metric_floor, target=target, direction=self.direction):
            side = "above" if self.direction == "min" else "below"
            return "target", (
                f'must lie {side} the metric\'s floor {metric_floor:g} (direction = "{self.direction}"), '
                f"got {target:g}; or give the unit's own floor"
            )
        return None


@dataclass(frozen=True)
class Timeliness:
    """Points and weights of 工作落实时效 (SCORING.md §4)."""

    points: float
    late_penalty_per_working_day: float
    yellow_threshold: float
    co_unit_weight: float
    priority_weights: Mapping[str, float]


@dataclass(frozen=True)
class ErrorReports:
    """差错通报 deductions by severity, their cap and the 容错 mitigation factor."""

    cap: float
    mitigation_factor: float
    deductions: Mapping[str, float]


@dataclass(frozen=True)
class Incentives:
    """激励 points by level and their cap."""

    cap: float
    points: Mapping[str, float]


@dataclass(frozen=True)
class AccountabilityKind:
    """One kind of 问责 record: its deduction and whether it vetoes (一票否决)."""

    deduction: float
    veto: bool


@dataclass(frozen=True)
class Accountability:
    """问责 kinds and the cap on their deductions."""

    cap: float
    kinds: Mapping[str, AccountabilityKind]


@dataclass(frozen=True)
class Grades:
    """Grade thresholds and the share of a category that may be excellent."""

    excellent_min: float
    excellent_quota: float
    good_min: float
    pass_min: float


@dataclass(frozen=True)
class BulletinHead:
    """Who issues the bulletin (发文机关) and the prefix of its 文号 (empty: no 文号)."""

    issuer: str = "考核办公室"
    doc_prefix: str = ""


@dataclass(frozen=True)
class Scheme:
    """A validated scheme, with its exact text and that text's SHA-256."""

    id: str
    name: str
    year: int
    timezone: str
    extra_holidays: tuple[date, ...]
    extra_workdays: tuple[date, ...]
    task_types: Mapping[str, TaskType]
    timeliness: Timeliness
    metrics: tuple[Metric, ...]
    error_reports: ErrorReports
    incentives: Incentives
    accountability: Accountability
    grades: Grades
    appeal_window_working_days: int
    text: str
    sha256: str
    jurisdiction: str = ""
    bulletin: BulletinHead = BulletinHead()
    # The holiday notices imported into the ledger (kaohe calendar import), by year: no part of the
    # text, added by the service that reads them (with_notices).
    notices: Mapping[int, HolidayNotice] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        # The text determines everything else, and the mappings inside are not hashable.
        return hash(self.sha256)

    @property
    def tz(self) -> ZoneInfo:
        """The scheme's time zone."""
        return ZoneInfo(self.timezone)

    def calendar(self) -> WorkCalendar:
        """A new working-day calendar with this scheme's extra holidays and workdays."""
        return WorkCalendar(
            extra_holidays=self.extra_holidays, extra_workdays=self.extra_workdays, notices=self.notices
        )

    def with_notices(self, notices: Mapping[int, HolidayNotice]) -> Scheme:
        """This scheme under the holiday notices imported into the ledger."""
        return replace(self, notices=MappingProxyType(dict(notices)))

    def metric(self, id: str) -> Metric:
        """The metric of that id; MetricNotFound (a NotFound and a KeyError) when there is none."""
        for m in self.metrics:
            if m.id == id:
                return m
        raise MetricNotFound(f'scheme "{self.id}" has no metric "{id}"')


def load_scheme(text: str, *, source: str = "scheme") -> Scheme:
    """Parse and validate a scheme's TOML text; SchemeInvalid lists every violation found.

    Required: ``[scheme] id, name, year``; in each task type ``limit``; in each metric ``id, kind,
    rule, target, points`` (plus ``aggregate`` for kind value, ``floor`` for rule linear); and
    when the section is present ``timeliness.points``, ``timeliness.late_penalty_per_working_day``,
    ``errors.cap``, ``errors.mitigation_factor``, ``incentives.cap``, ``accountability.cap`` and
    each accountability kind's ``deduction``.

    Defaults: timezone Asia/Shanghai; extra_holidays/extra_workdays empty; a task type's or
    metric's name is its id; no progress_every; direction ``min``; applies_to empty (every unit);
    yellow_threshold 0.8; co_unit_weight 1.0; priority_weights ``{normal = 1.0}``; deductions,
    incentive points and accountability kinds empty; veto false; grades excellent_min 90,
    good_min 80, pass_min 60, excellent_quota 1.0 (no quota); appeal_window_working_days 5.
    An absent [timeliness], [errors], [incentives] or [accountability] section assesses nothing
    there: points and caps 0, mitigation_factor 1.

    Violations name the key path, metrics indexed from 0: ``metrics[2].floor``. ``source`` names
    the text in the violation of a TOML syntax error.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SchemeInvalid([FieldViolation(source, f"is not valid TOML: {e}")]) from None
    except RecursionError:
        # tomllib recurses once per level of nesting: a scheme is a few levels deep.
        raise SchemeInvalid([FieldViolation(source, "is nested too deeply to be a scheme")]) from None
    v = Validator()
    scheme = _read_scheme(v, doc, text)
    if v.violations:
        raise SchemeInvalid(v.violations)
    return scheme


def load_scheme_file(path: str | Path) -> Scheme:
    """Read and validate a scheme file; an unreadable or non-UTF-8 file is SchemeInvalid naming the path."""
    p = Path(path)
    try:
        # utf-8-sig: Notepad on Windows, common in county offices, starts UTF-8 files with a BOM.
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise SchemeInvalid([FieldViolation(str(p), f"cannot be read: {e.strerror or e}")]) from None
    except UnicodeDecodeError as e:
        raise SchemeInvalid(
            [FieldViolation(str(p), f"is not UTF-8 text: {e.reason} at byte {e.start}")]
        ) from None
    return load_scheme(text, source=str(p))


# The categories every county assesses (FORMATS.md: "e.g. department, township"): a scheme may name
# them before the ledger holds a unit of theirs, as a county without townships reuses a preset.
STANDARD_CATEGORIES = frozenset({"department", "township"})


def check_applies_to(scheme: Scheme, *, unit_ids: set[str], categories: set[str]) -> None:
    """Refuse (SchemeInvalid) a scheme whose applies_to names a unit id or category that is not known."""
    categories = categories | STANDARD_CATEGORIES
    violations = [
        FieldViolation(
            f"metrics[{i}].applies_to[{j}]", f'"{name}" is neither a known unit id nor a unit category'
        )
        for i, m in enumerate(scheme.metrics)
        for j, name in enumerate(m.applies_to)
        if name not in unit_ids and name not in categories
    ]
    if violations:
        raise SchemeInvalid(violations)


# --- reading ------------------------------------------------------------------------------------

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


def _read_scheme(v: Validator, doc: dict[str, Any], text: str) -> Scheme:
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
            v.bad(
                "scheme.timezone", f'unknown time zone "{timezone}" (use an IANA name such as Asia/Shanghai)'
            )
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
        v.bad("metrics", f"must be an array of tables ([[metrics]]), not {type_name(raw)}")
        return ()
    out: list[Metric] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(raw):
        p = f"metrics[{i}]"
        if not isinstance(m, dict):
            v.bad(p, f"must be a table, not {type_name(m)}")
            continue
        v.keys(m, p, _METRIC_KEYS)
        metric_id = v.string(m, "id", p)
        if metric_id:
            if metric_id in seen:
                v.bad(f"{p}.id", f'duplicate metric id "{metric_id}" (also metrics[{seen[metric_id]}])')
            else:
                seen[metric_id] = i
        name = v.string(m, "name", p, default=metric_id)
        kind = v.string(m, "kind", p, choices=METRIC_KINDS)
        aggregate: str | None = None
        if kind == "value":
            if "aggregate" not in m:
                v.bad(f"{p}.aggregate", 'required when kind = "value"')
            else:
                aggregate = v.string(m, "aggregate", p, choices=AGGREGATES) or None
        elif "aggregate" in m and kind == "ratio":
            v.bad(f"{p}.aggregate", 'applies only to kind = "value" (a ratio is Σ numerator / Σ denominator)')
        direction = v.string(m, "direction", p, choices=DIRECTIONS, default="min")
        rule = v.string(m, "rule", p, choices=RULES)
        target = v.number(m, "target", p)
        floor: float | None = None
        if rule == "linear":
            if "floor" not in m:
                v.bad(f"{p}.floor", 'required when rule = "linear"')
            else:
                floor = v.number(m, "floor", p)
                _check_floor(v, p, m, floor, target, direction)
        elif "floor" in m and rule:
            v.bad(f"{p}.floor", f'applies only to rule = "linear", not "{rule}"')
        if rule == "proportional" and is_number(m.get("target")) and target <= 0:
            v.bad(f"{p}.target", f'must be greater than 0 for rule = "proportional", got {m["target"]}')
        points = v.number(m, "points", p, minimum=0)
        applies_to = v.string_list(m, "applies_to", p)
        out.append(
            Metric(
                id=metric_id,
                name=name,
                kind=kind,
                aggregate=aggregate,
                direction=direction,
                rule=rule,
                target=target,
                floor=floor,
                points=points,
                applies_to=applies_to,
            )
        )
    return tuple(out)


def _check_floor(
    v: Validator, p: str, m: Mapping[str, Any], floor: float, target: float, direction: str
) -> None:
    if not (is_number(m.get("floor")) and is_number(m.get("target"))):
        return
    problem = floor_problem(floor=floor, target=target, direction=direction)
    if problem:
        v.bad(f"{p}.floor", problem)


def floor_problem(*, floor: float, target: float, direction: str) -> str | None:
    """What is wrong with a linear rule's floor against its target, None when nothing is."""
    if floor == target:
        return "must differ from target (the linear scale would have zero width)"
    if direction == "min" and floor > target:
        return f'must be below target for direction = "min" (higher is better), got {floor:g} > {target:g}'
    if direction == "max" and floor < target:
        return f'must be above target for direction = "max" (lower is better), got {floor:g} < {target:g}'
    return None


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
            v.bad("grades.pass_min", f"must not exceed good_min ({grades.pass_min:g} > {grades.good_min:g})")
        if grades.good_min > grades.excellent_min:
            v.bad(
                "grades.good_min",
                f"must not exceed excellent_min ({grades.good_min:g} > {grades.excellent_min:g})",
            )
    return grades
