"""The scheme (考核方案): a TOML file read into frozen, validated dataclasses (FORMATS.md).

The dataclasses are in scheme_model, the reading in scheme_read; this module is where they are loaded from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from services.common.errors import FieldViolation, SchemeInvalid
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
    MetricNotFound,
    Scheme,
    TaskType,
    Timeliness,
)
from services.common.scheme_read import read_scheme
from services.common.scheme_validate import Validator

__all__ = [
    "AGGREGATES",
    "DEFAULT_TIMEZONE",
    "DIRECTIONS",
    "METRIC_KINDS",
    "RULES",
    "Accountability",
    "AccountabilityKind",
    "BulletinHead",
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
        raise SchemeInvalid([FieldViolation(source, f"不是有效的 TOML：{e}")]) from None
    except RecursionError:
        # tomllib recurses once per level of nesting: a scheme is a few levels deep.
        raise SchemeInvalid([FieldViolation(source, "嵌套层数过多，不是考核方案")]) from None
    v = Validator()
    scheme = read_scheme(v, doc, text)
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
        raise SchemeInvalid([FieldViolation(str(p), f"无法读取：{e.strerror or e}")]) from None
    except UnicodeDecodeError as e:
        raise SchemeInvalid(
            [FieldViolation(str(p), f"不是 UTF-8 文本：第 {e.start} 字节 {e.reason}")]
        ) from None
    return load_scheme(text, source=str(p))


# The categories every county assesses (FORMATS.md: "e.g. department, township"): a scheme may name
# them before the ledger holds a unit of theirs, as a county without townships reuses a preset.
STANDARD_CATEGORIES = frozenset({"department", "township"})


def check_applies_to(scheme: Scheme, *, unit_ids: set[str], categories: set[str]) -> None:
    """Refuse (SchemeInvalid) a scheme whose applies_to names a unit id or category that is not known."""
    categories = categories | STANDARD_CATEGORIES
    violations = [
        FieldViolation(f"metrics[{i}].applies_to[{j}]", f"“{name}”既不是已知的单位编号，也不是单位类别")
        for i, m in enumerate(scheme.metrics)
        for j, name in enumerate(m.applies_to)
        if name not in unit_ids and name not in categories
    ]
    if violations:
        raise SchemeInvalid(violations)
