"""The metric names the services export, and the metric names a PromQL expression reads."""

from __future__ import annotations

import re

GAUGES_AND_COUNTERS = frozenset(
    {
        "kaohe_grpc_server_requests_total",
        "kaohe_tasks_open",
        "kaohe_tasks_overdue",
        "kaohe_tasks_progress_overdue",
        "kaohe_reminders_sent_total",
        "kaohe_reminder_failures_total",
        "kaohe_reminder_checks_total",
        "kaohe_tasks_reported_late",
        "kaohe_emergency_tasks_late",
        "kaohe_indicator_value",
        "kaohe_indicator_target",
        "kaohe_assessment_runs_total",
        "kaohe_permission_denied_total",
        "kaohe_backend_unavailable_total",
        "kaohe_unit_info",
        "kaohe_indicator_info",
        "kaohe_indicator_annual_target",
        "kaohe_indicator_unit_target",
        "kaohe_indicator_unit_annual_target",
        "kaohe_calendar_covered",
    }
)
HISTOGRAMS = frozenset(
    {
        "kaohe_grpc_server_request_duration_seconds",
        "kaohe_assessment_run_duration_seconds",
    }
)
# Prometheus' own per-target series.
BUILTIN = frozenset({"up"})
EXPORTED = (
    GAUGES_AND_COUNTERS
    | BUILTIN
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")}
)

_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects (functions, keywords and label names left out)."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _LABEL_LIST.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}
