"""Builders for the scoring tests (kernel inputs, schemes) and the bridge from them to the one oracle.

The scoring rules are read once, from SCORING.md alone, in tests/oracle/reference.py (no project code).
`reference_document` hands that oracle the ledger records and the scheme that a LedgerBuilder's
kernel inputs stand for, and shapes its answer as the kernel's result document (without breakdowns,
plus "task_lines"), so a test compares the two.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import chinese_calendar
import numpy as np

from services.common.scheme import Scheme, load_scheme
from services.scoring.domain import (
    NO_TIME,
    AccountabilityRows,
    ErrorRows,
    IncentiveRows,
    Inputs,
    ReadingRows,
    TaskRows,
    ToleranceRows,
    UnitTable,
)
from tests.oracle import reference as oracle


def reference_document(
    inputs: Inputs, scheme: Scheme, *, year: int, as_of: datetime | None = None
) -> dict[str, Any]:
    """The oracle's result for these inputs: units in the kernel's order, numbers as floats, and
    "task_lines" per (unit, task) to check breakdowns against."""
    tz = scheme.tz
    cutoff = (as_of or datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)).astimezone(tz)
    scheme_doc = oracle.load_scheme(scheme.text)
    records = _records(inputs, scheme_doc, tz)
    result = oracle.score(scheme_doc, records, year, as_of=cutoff)
    units = [_unit(u) for u in result["units"]]
    categories = list(dict.fromkeys(inputs.units.categories))
    units.sort(key=lambda r: (categories.index(r["category"]), r["rank"], r["unit"]))
    warnings = set(result["calendar_warnings"])
    if not _statutory_covers(year):
        warnings.add(year)  # the run's own year, uncovered, is used by every result of it
    return {
        "year": year,
        "scheme": scheme.id,
        "as_of": cutoff.isoformat(),
        "calendar_warnings": sorted(warnings),
        "units": units,
        "task_lines": _task_lines(result["detail"], tz),
        # A total on a rounding boundary (x.xx5 exactly) rounds by the oracle's exact arithmetic; the kernel's
        # floats may land either side of it, and a rank or grade with it: such a case proves nothing.
        "fragile": any(u.get("fragile") for u in result["units"]),
    }


def _statutory_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _unit(found: dict[str, Any]) -> dict[str, Any]:
    dropped = ("fragile", "total_exact")
    return {k: v for k, v in found.items() if k not in dropped}


def _task_lines(detail: dict[str, Any], tz: Any) -> dict[tuple[str, str], dict[str, Any]]:
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for uid, unit in detail.items():
        for t in unit.tasks:
            lines[(uid, t["task"])] = {
                "weight": float(t["weight"]),
                "credit": float(t["credit"]),
                "late_working_days": t["L"],
                "due_at": datetime.fromisoformat(t["due_at"]).astimezone(tz).isoformat(),
                "reported_at": None
                if t["reported_at"] is None
                else datetime.fromisoformat(t["reported_at"]).astimezone(tz).isoformat(),
                "tolerance": None
                if t["tolerance"] is None
                else {"id": t["tolerance_id"], "decision": t["tolerance"]},
                "verified": t["verified"],
                "extended": t["extended"],
            }
    return lines


def _at(seconds: int, tz: Any) -> str:
    return datetime.fromtimestamp(int(seconds), tz).isoformat()


def _records(inputs: Inputs, scheme_doc: dict[str, Any], tz: Any) -> list[dict[str, Any]]:
    """The ledger (FORMATS.md records) that the kernel's inputs were read from."""
    units = inputs.units
    out: list[dict[str, Any]] = [
        {"type": "unit", "id": i, "name": n, "category": c}
        for i, n, c in zip(units.ids, units.names, units.categories, strict=True)
    ]
    out += _task_records(inputs.tasks, units.ids, scheme_doc, tz)
    er = inputs.errors
    for i in range(len(er)):
        out.append(
            {
                "type": "error_report",
                "id": str(er.id[i]),
                "unit": units.ids[int(er.unit[i])],
                "date": str(er.date[i]),
                "category": str(er.category[i]),
                "severity": str(er.severity[i]),
            }
        )
        if er.voided[i]:
            out.append(
                {"type": "appeal", "error_report": str(er.id[i]), "upheld": True, "date": str(er.date[i])}
            )
    kinds = {m["id"]: m["kind"] for m in scheme_doc.get("metrics", [])}
    out += _reading_records(inputs.readings, units.ids, kinds)
    inc = inputs.incentives
    out += [
        {
            "type": "incentive",
            "id": str(inc.id[i]),
            "unit": units.ids[int(inc.unit[i])],
            "date": str(inc.date[i]),
            "level": str(inc.level[i]),
        }
        for i in range(len(inc))
    ]
    tol = inputs.tolerances
    out += [
        {
            "type": "tolerance",
            "id": str(tol.id[i]),
            "unit": units.ids[int(tol.unit[i])],
            "target_type": str(tol.target_type[i]),
            "target": str(tol.target[i]),
            "decision": str(tol.decision[i]),
            "date": str(tol.date[i]),
        }
        for i in range(len(tol))
    ]
    ac = inputs.accountability
    out += [
        {
            "type": "accountability",
            "id": str(ac.id[i]),
            "unit": units.ids[int(ac.unit[i])],
            "date": str(ac.date[i]),
            "kind": str(ac.kind[i]),
        }
        for i in range(len(ac))
    ]
    return out


def _reading_records(rd: Any, ids: Any, kinds: dict[str, str]) -> list[dict[str, Any]]:
    """The readings a metric of the scheme reads: a value for a value metric, both parts for a ratio."""
    out: list[dict[str, Any]] = []
    for i in range(len(rd)):
        metric = str(rd.metric[i])
        row = {
            "type": "metric_reading",
            "unit": ids[int(rd.unit[i])],
            "metric": metric,
            "period": str(rd.period[i]),
        }
        if kinds.get(metric) == "ratio":
            if not math.isnan(rd.numerator[i]) and not math.isnan(rd.denominator[i]):
                out.append(
                    row | {"numerator": float(rd.numerator[i]), "denominator": float(rd.denominator[i])}
                )
        elif metric in kinds and not math.isnan(rd.value[i]):
            out.append(row | {"value": float(rd.value[i])})
    return out


def _task_records(tk: Any, ids: Any, scheme_doc: dict[str, Any], tz: Any) -> list[dict[str, Any]]:
    """A task record per task id (its lead row and co-unit rows), with the events its rows imply.

    A task with a `latest` cut-off gets a task type of its own whose limit and latest (in minutes from
    its assignment) give its due and cut-off, as the oracle applies `latest` to computed dues only.
    """
    rows: dict[str, list[int]] = defaultdict(list)
    for i in range(len(tk)):
        rows[str(tk.task_id[i])].append(i)
    out: list[dict[str, Any]] = []
    names = tk.priority_names
    for task_id, found in rows.items():
        lead = next(i for i in found if tk.is_lead[i])
        assigned, due = int(tk.assigned_at[lead]), int(tk.due_at[lead])
        record: dict[str, Any] = {
            "type": "task",
            "id": task_id,
            "task_type": f"t-{task_id}",
            "lead_unit": ids[int(tk.unit[lead])],
            "co_units": [ids[int(tk.unit[i])] for i in found if not tk.is_lead[i]],
            "priority": names[int(tk.priority[lead])] if names else str(tk.priority[lead]),
            "assigned_at": _at(assigned, tz),
        }
        latest = int(tk.latest_at[lead]) if len(tk.latest_at) else NO_TIME
        task_type: dict[str, Any] = {"name": task_id, "limit": {"amount": 1, "unit": "hours"}}
        if latest != NO_TIME and not tk.extended[lead]:
            task_type["limit"] = {"amount": Fraction(due - assigned, 60), "unit": "minutes"}
            task_type["latest"] = {"amount": Fraction(latest - assigned, 60), "unit": "minutes"}
        else:
            record["due_at"] = _at(due, tz)
        scheme_doc["task_types"][record["task_type"]] = task_type
        out.append(record)
        out += _task_events(tk, lead, task_id, tz)
    return out


def _task_events(tk: Any, row: int, task_id: str, tz: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if len(tk.extended) and tk.extended[row]:
        events.append(
            {
                "type": "task_event",
                "task": task_id,
                "kind": "extend",
                "at": _at(tk.assigned_at[row], tz),
                "due_at": _at(tk.due_at[row], tz),
            }
        )
    if int(tk.reported_at[row]) != NO_TIME:
        events.append(
            {"type": "task_event", "task": task_id, "kind": "report", "at": _at(tk.reported_at[row], tz)}
        )
        if len(tk.verified) and tk.verified[row]:
            events.append(
                {"type": "task_event", "task": task_id, "kind": "verify", "at": _at(tk.reported_at[row], tz)}
            )
    if int(tk.cancelled_at[row]) != NO_TIME:
        events.append(
            {"type": "task_event", "task": task_id, "kind": "cancel", "at": _at(tk.cancelled_at[row], tz)}
        )
    return events


NUMBER_KEYS = (
    "timeliness_earned",
    "timeliness_max",
    "metrics_earned",
    "metrics_max",
    "base",
    "bonus",
    "error_deduction",
    "accountability_deduction",
)
EXACT_KEYS = ("unit", "name", "category", "veto", "total", "rank", "grade", "nothing_assessed")


def assert_same_document(doc: dict[str, Any], ref: dict[str, Any], *, tol: float = 1e-9) -> None:
    """The kernel's document equals the reference's: numbers within tol, everything else exactly."""
    for key in ("year", "scheme", "as_of", "calendar_warnings"):
        assert doc[key] == ref[key], key
    assert [u["unit"] for u in doc["units"]] == [u["unit"] for u in ref["units"]]
    for got, want in zip(doc["units"], ref["units"], strict=True):
        for key in EXACT_KEYS:
            assert got[key] == want[key], (got["unit"], key, got[key], want[key])
        for key in NUMBER_KEYS:
            assert abs(got[key] - want[key]) <= tol, (got["unit"], key, got[key], want[key])


# --- builders shared by the scoring tests -----------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_toml(doc: dict[str, Any]) -> str:
    """TOML text for a scheme-shaped dict: tables one level deep, deeper tables inline, [[arrays]]."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{_toml_key(k)}]")
            lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"[[{_toml_key(k)}]]")
                lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in item.items()]
        elif isinstance(v, list):
            lines.insert(0, f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def base_scheme_doc() -> dict[str, Any]:
    """A complete, valid scheme as a dict, with round numbers the scoring tests can reason about."""
    return {
        "scheme": {"id": "test", "name": "测试方案", "year": 2025, "timezone": "Asia/Shanghai"},
        "calendar": {"extra_holidays": [], "extra_workdays": []},
        "task_types": {"letter": {"name": "督办函", "limit": {"amount": 3, "unit": "working_days"}}},
        "timeliness": {
            "points": 40,
            "late_penalty_per_working_day": 0.1,
            "yellow_threshold": 0.8,
            "co_unit_weight": 0.5,
            "priority_weights": {"normal": 1.0, "important": 2.0, "info": 0.0},
        },
        "errors": {
            "cap": 10,
            "mitigation_factor": 0.5,
            "deductions": {"general": 0.5, "serious": 1.0, "grave": 2.0},
        },
        "incentives": {"cap": 5, "points": {"national": 3, "provincial": 2, "municipal": 1, "county": 0.5}},
        "accountability": {
            "cap": 15,
            "kinds": {"interview": {"deduction": 1.0}, "disciplinary": {"deduction": 5.0, "veto": True}},
        },
        "grades": {"excellent_min": 90, "excellent_quota": 0.2, "good_min": 80, "pass_min": 60},
        "runs": {"appeal_window_working_days": 5},
    }


def scheme_from(doc: dict[str, Any]) -> Scheme:
    return load_scheme(dump_toml(doc))


class LedgerBuilder:
    """Inputs for the kernel, written record by record; instants are aware datetimes, days are dates."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.names: list[str] = []
        self.categories: list[str] = []
        self.tasks: dict[str, list[Any]] = {k: [] for k in TASK_COLUMNS}
        self.errors: dict[str, list[Any]] = {
            k: [] for k in ("id", "unit", "date", "category", "severity", "voided")
        }
        self.readings: dict[str, list[Any]] = {
            k: [] for k in ("unit", "metric", "period", "value", "numerator", "denominator")
        }
        self.incentives: dict[str, list[Any]] = {k: [] for k in ("id", "unit", "date", "level")}
        self.tolerances: dict[str, list[Any]] = {
            k: [] for k in ("id", "unit", "target_type", "target", "decision", "date")
        }
        self.accountability: dict[str, list[Any]] = {k: [] for k in ("id", "unit", "date", "kind")}

    def __repr__(self) -> str:
        """Every record written, so that a failing generated case shows its ledger."""
        tables = {
            "units": {"id": self.ids, "category": self.categories},
            "tasks": self.tasks,
            "errors": self.errors,
            "readings": self.readings,
            "incentives": self.incentives,
            "tolerances": self.tolerances,
            "accountability": self.accountability,
        }
        shown = [f"{name}={cols!r}" for name, cols in tables.items() if any(cols.values())]
        return f"LedgerBuilder({', '.join(shown)})"

    def unit(self, unit_id: str, category: str = "department", name: str | None = None) -> int:
        self.ids.append(unit_id)
        self.names.append(name or unit_id.upper())
        self.categories.append(category)
        return len(self.ids) - 1

    def code(self, unit_id: str) -> int:
        return self.ids.index(unit_id)

    def task(
        self,
        task_id: str,
        unit: str,
        *,
        due: datetime,
        reported: datetime | None = None,
        cancelled: datetime | None = None,
        priority: str = "normal",
        co: tuple[str, ...] = (),
        assigned: datetime | None = None,
        latest: datetime | None = None,
        extended: bool = False,
        verified: bool = False,
    ) -> None:
        for u, lead in [(unit, True), *((c, False) for c in co)]:
            row = {
                "task_id": task_id,
                "unit": self.code(u),
                "is_lead": lead,
                "priority": priority,
                "assigned_at": epoch(assigned or due - timedelta(days=10)),
                "due_at": epoch(due),
                "reported_at": NO_TIME if reported is None else epoch(reported),
                "cancelled_at": NO_TIME if cancelled is None else epoch(cancelled),
                "latest_at": NO_TIME if latest is None else epoch(latest),
                "extended": extended,
                "verified": verified,
            }
            for k, v in row.items():
                self.tasks[k].append(v)

    def error(
        self,
        error_id: str,
        unit: str,
        day: date,
        severity: str = "general",
        *,
        voided: bool = False,
        category: str = "other",
    ) -> None:
        for k, v in zip(
            self.errors, (error_id, self.code(unit), day, category, severity, voided), strict=True
        ):
            self.errors[k].append(v)

    def reading(
        self,
        unit: str,
        metric: str,
        period: str,
        value: float | None = None,
        *,
        num: float | None = None,
        den: float | None = None,
    ) -> None:
        nan = float("nan")
        row = (
            self.code(unit),
            metric,
            period,
            nan if value is None else value,
            nan if num is None else num,
            nan if den is None else den,
        )
        for k, v in zip(self.readings, row, strict=True):
            self.readings[k].append(v)

    def incentive(self, incentive_id: str, unit: str, day: date, level: str) -> None:
        for k, v in zip(self.incentives, (incentive_id, self.code(unit), day, level), strict=True):
            self.incentives[k].append(v)

    def tolerance(
        self, tolerance_id: str, unit: str, target_type: str, target: str, decision: str, day: date
    ) -> None:
        row = (tolerance_id, self.code(unit), target_type, target, decision, day)
        for k, v in zip(self.tolerances, row, strict=True):
            self.tolerances[k].append(v)

    def accountable(self, record_id: str, unit: str, day: date, kind: str) -> None:
        for k, v in zip(self.accountability, (record_id, self.code(unit), day, kind), strict=True):
            self.accountability[k].append(v)

    def inputs(self) -> Inputs:
        def arrays(cols: dict[str, list[Any]], dates: tuple[str, ...] = ()) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for k, v in cols.items():
                if k in dates:
                    out[k] = np.array(v, dtype="datetime64[D]")
                elif v and isinstance(v[0], str):
                    out[k] = np.array(v, dtype=object)
                else:
                    out[k] = np.array(v)
            return out

        return Inputs(
            units=UnitTable(self.ids, self.names, self.categories),
            tasks=TaskRows(**arrays(self.tasks)),
            errors=ErrorRows(**arrays(self.errors, ("date",))),
            readings=ReadingRows(**arrays(self.readings)),
            incentives=IncentiveRows(**arrays(self.incentives, ("date",))),
            tolerances=ToleranceRows(**arrays(self.tolerances, ("date",))),
            accountability=AccountabilityRows(**arrays(self.accountability, ("date",))),
        )


TASK_COLUMNS = (
    "task_id",
    "unit",
    "is_lead",
    "priority",
    "assigned_at",
    "due_at",
    "reported_at",
    "cancelled_at",
    "latest_at",
    "extended",
    "verified",
)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())
