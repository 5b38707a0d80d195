"""The result document (FORMATS.md) as kaohe.scoring.v1.Result messages, and back: the one converter.

The scoring service builds the message from the document its kernel writes (`result_to_message`); every
reader (the gateway, the CLI, the console, the exports) turns it back (`result_to_json_dict`) into the very
dict the kernel wrote — same keys, same order, ints as ints and floats as floats — so that `json.dumps` of it
is byte for byte the document of before. Instants travel as Timestamps and are written again in the
result's time zone; dates as google.type.Date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2

from services.common.protoenum import enum_code, enum_number

_UNIT_NUMBERS = (
    "timeliness_earned",
    "timeliness_max",
    "metrics_earned",
    "metrics_max",
    "base",
    "bonus",
    "error_deduction",
    "accountability_deduction",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp(text: str | None) -> Timestamp | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    delta = moment - _EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def _text(message: Any, field: str, zone: ZoneInfo) -> str | None:
    if not message.HasField(field):
        return None
    stamp = getattr(message, field)
    moment = _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
    return moment.astimezone(zone).isoformat()


def _day(text: str | None) -> Date | None:
    if text is None:
        return None
    day = date.fromisoformat(text)
    return Date(year=day.year, month=day.month, day=day.day)


def _day_text(message: Any) -> str | None:
    if not message.HasField("date"):
        return None
    return date(message.date.year, message.date.month, message.date.day).isoformat()


def _code(enum: Any, number: int) -> str:
    return enum_code(enum.DESCRIPTOR, number)


def _number(enum: Any, code: str, field: str) -> Any:
    return enum_number(enum.DESCRIPTOR, code, field=field)


# ---- dict -> message ------------------------------------------------------------------------------------


def result_to_message(document: dict[str, Any], *, timezone: str) -> scoring_pb2.Result:
    """The Result message of a result document (a run's or a preview's); timezone: the scheme's zone."""
    result = scoring_pb2.Result(
        year=document["year"],
        scheme=document["scheme"],
        as_of=_stamp(document["as_of"]),
        timezone=timezone,
        interim=bool(document.get("interim", False)),
        calendar_warnings=document.get("calendar_warnings", []),
        units=[_unit_message(entry) for entry in document["units"]],
    )
    if "run" in document:
        result.run = document["run"]
    if "state" in document:
        result.state = _number(common_pb2.RunState, document["state"], "state")
    if "scheme_sha256" in document:
        result.scheme_sha256 = document["scheme_sha256"]
    if "calendar" in document:
        result.calendar.SetInParent()
        for entry in document["calendar"]:
            year = result.calendar.years.add(year=entry["year"], source=entry["source"])
            if "notice_sha256" in entry:
                year.notice_sha256 = entry["notice_sha256"]
    return result


def _unit_message(entry: dict[str, Any]) -> scoring_pb2.UnitResult:
    unit = scoring_pb2.UnitResult(
        unit=entry["unit"],
        name=entry["name"],
        category=entry["category"],
        veto=entry["veto"],
        total=entry["total"],
        rank=entry["rank"],
        grade=_number(scoring_pb2.Grade, entry["grade"], "grade"),
        **{name: entry[name] for name in _UNIT_NUMBERS},
    )
    if "nothing_assessed" in entry:
        unit.nothing_assessed = entry["nothing_assessed"]
    if "breakdown" in entry:
        _fill_breakdown(unit.breakdown, entry["breakdown"])
    return unit


def _tolerance_message(value: dict[str, str] | None) -> scoring_pb2.ToleranceApplied | None:
    if value is None:
        return None
    decision = _number(scoring_pb2.ToleranceDecision, value["decision"], "tolerance.decision")
    return scoring_pb2.ToleranceApplied(id=value["id"], decision=decision)


def _fill_breakdown(target: scoring_pb2.Breakdown, breakdown: dict[str, Any]) -> None:
    target.SetInParent()
    target.tasks.extend(_task_message(line) for line in breakdown.get("tasks", []))
    target.metrics.extend(_metric_message(line) for line in breakdown.get("metrics", []))
    for line in breakdown.get("errors", []):
        target.errors.add(
            id=line["id"],
            date=_day(line["date"]),
            category=line["category"],
            severity=line["severity"],
            voided=line["voided"],
            deduction=line["deduction"],
            tolerance=_tolerance_message(line["tolerance"]),
            points=line["points"],
        )
    for line in breakdown.get("incentives", []):
        target.incentives.add(
            id=line["id"], date=_day(line["date"]), level=line["level"], points=line["points"]
        )
    for line in breakdown.get("accountability", []):
        target.accountability.add(
            id=line["id"],
            date=_day(line["date"]),
            kind=line["kind"],
            voided=line["voided"],
            veto=line["veto"],
            points=line["points"],
        )
    if "caps" in breakdown:
        for name, cap in breakdown["caps"].items():
            getattr(target.caps, name).CopyFrom(scoring_pb2.Cap(**cap))


def _task_message(line: dict[str, Any]) -> scoring_pb2.TaskLine:
    task = scoring_pb2.TaskLine(
        task=line["task"],
        role=_number(scoring_pb2.TaskRole, line["role"], "role"),
        priority=line["priority"],
        weight=line["weight"],
        due_at=_stamp(line["due_at"]),
        reported_at=_stamp(line["reported_at"]),
        late_working_days=line["late_working_days"],
        credit=line["credit"],
        tolerance=_tolerance_message(line["tolerance"]),
        points=line["points"],
    )
    if "extended" in line:
        task.extended = line["extended"]
        if line["verified"] is not None:
            task.verified = line["verified"]
    return task


def _metric_message(line: dict[str, Any]) -> scoring_pb2.MetricLine:
    return scoring_pb2.MetricLine(
        metric=line["metric"],
        name=line["name"],
        kind=line["kind"],
        rule=line["rule"],
        direction=line["direction"],
        value=line["value"],
        target=line["target"],
        floor=line["floor"],
        target_source=_number(scoring_pb2.TargetSource, line["target_source"], "target_source"),
        status=_number(scoring_pb2.MetricStatus, line["status"], "status"),
        earned=line["earned"],
        max=line["max"],
    )


# ---- message -> dict ------------------------------------------------------------------------------------


def result_to_json_dict(result: scoring_pb2.Result) -> dict[str, Any]:
    """The result document of FORMATS.md that the message carries, exactly as the kernel wrote it."""
    zone = ZoneInfo(result.timezone or "UTC")
    document: dict[str, Any] = {}
    if result.HasField("run"):
        document["run"] = result.run
    if result.HasField("state"):
        document["state"] = _code(common_pb2.RunState, result.state)
    document.update(
        year=result.year,
        scheme=result.scheme,
        as_of=_text(result, "as_of", zone),
        interim=result.interim,
        calendar_warnings=list(result.calendar_warnings),
        units=[_unit_dict(unit, zone) for unit in result.units],
    )
    if result.HasField("scheme_sha256"):
        document["scheme_sha256"] = result.scheme_sha256
    if result.HasField("calendar"):
        document["calendar"] = [_calendar_dict(year) for year in result.calendar.years]
    return document


def _calendar_dict(year: scoring_pb2.CalendarYear) -> dict[str, Any]:
    entry: dict[str, Any] = {"year": year.year, "source": year.source}
    if year.HasField("notice_sha256"):
        entry["notice_sha256"] = year.notice_sha256
    return entry


def _unit_dict(unit: scoring_pb2.UnitResult, zone: ZoneInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"unit": unit.unit, "name": unit.name, "category": unit.category}
    entry.update({name: getattr(unit, name) for name in _UNIT_NUMBERS})
    entry.update(veto=unit.veto, total=unit.total, rank=unit.rank, grade=_code(scoring_pb2.Grade, unit.grade))
    if unit.HasField("nothing_assessed"):
        entry["nothing_assessed"] = unit.nothing_assessed
    if unit.HasField("breakdown"):
        entry["breakdown"] = _breakdown_dict(unit.breakdown, zone)
    return entry


def _optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def _tolerance_dict(line: Any) -> dict[str, str] | None:
    if not line.HasField("tolerance"):
        return None
    return {
        "id": line.tolerance.id,
        "decision": _code(scoring_pb2.ToleranceDecision, line.tolerance.decision),
    }


def _lines(items: Any, convert: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    return [convert(item) for item in items]


def _breakdown_dict(breakdown: scoring_pb2.Breakdown, zone: ZoneInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tasks": _lines(breakdown.tasks, lambda line: _task_dict(line, zone)),
        "metrics": _lines(breakdown.metrics, _metric_dict),
        "errors": _lines(breakdown.errors, _error_dict),
        "incentives": _lines(
            breakdown.incentives,
            lambda line: {"id": line.id, "date": _day_text(line), "level": line.level, "points": line.points},
        ),
        "accountability": _lines(breakdown.accountability, _accountability_dict),
    }
    if breakdown.HasField("caps"):
        caps = breakdown.caps
        out["caps"] = {
            name: {"sum": cap.sum, "cap": cap.cap, "applied": cap.applied}
            for name, cap in (
                ("errors", caps.errors),
                ("incentives", caps.incentives),
                ("accountability", caps.accountability),
            )
        }
    return out


def _task_dict(line: scoring_pb2.TaskLine, zone: ZoneInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task": line.task,
        "role": _code(scoring_pb2.TaskRole, line.role),
        "priority": line.priority,
        "weight": line.weight,
        "due_at": _text(line, "due_at", zone),
        "reported_at": _text(line, "reported_at", zone),
        "late_working_days": _optional(line, "late_working_days"),
        "credit": line.credit,
        "tolerance": _tolerance_dict(line),
        "points": line.points,
    }
    if line.HasField("extended"):
        out["verified"] = _optional(line, "verified")
        out["extended"] = line.extended
    return out


def _metric_dict(line: scoring_pb2.MetricLine) -> dict[str, Any]:
    return {
        "metric": line.metric,
        "name": line.name,
        "kind": line.kind,
        "rule": line.rule,
        "direction": line.direction,
        "value": _optional(line, "value"),
        "target": line.target,
        "floor": _optional(line, "floor"),
        "target_source": _code(scoring_pb2.TargetSource, line.target_source),
        "status": _code(scoring_pb2.MetricStatus, line.status),
        "earned": line.earned,
        "max": line.max,
    }


def _error_dict(line: scoring_pb2.ErrorLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "date": _day_text(line),
        "category": line.category,
        "severity": line.severity,
        "voided": line.voided,
        "deduction": line.deduction,
        "tolerance": _tolerance_dict(line),
        "points": line.points,
    }


def _accountability_dict(line: scoring_pb2.AccountabilityLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "date": _day_text(line),
        "kind": line.kind,
        "voided": line.voided,
        "veto": line.veto,
        "points": line.points,
    }
