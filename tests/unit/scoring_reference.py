"""A plain-Python reference of SCORING.md §4–§8 (loops and dicts, to be read, not fast), and test builders."""

from __future__ import annotations

import calendar as stdlib_calendar
import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import chinese_calendar
import numpy as np

from services.common.scheme import Metric, Scheme, load_scheme
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

SLACK = 1e-9


class ReferenceCalendar:
    """SCORING.md §1 day by day, remembering the years the weekday fallback answered."""

    def __init__(self, scheme: Scheme) -> None:
        self.holidays = set(scheme.extra_holidays)
        self.workdays = set(scheme.extra_workdays)
        self.uncovered: set[int] = set()

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            self.uncovered.add(d.year)
            return d.weekday() < 5

    def working_days_between(self, a: date, b: date) -> int:
        count, d = 0, a + timedelta(days=1)
        while d <= b:
            count += self.is_working_day(d)
            d += timedelta(days=1)
        return count


def statutory_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def period_year_and_end(period: str) -> tuple[int, date]:
    year = int(period[:4])
    if len(period) == 4:
        return year, date(year, 12, 31)
    month = int(period[5:7])
    if len(period) == 7:
        return year, date(year, month, stdlib_calendar.monthrange(year, month)[1])
    return year, date.fromisoformat(period)


def rule_points(metric: Metric, v: float) -> tuple[float, bool]:
    """(earned, met) for annual value v, straight from the table of SCORING.md §5."""
    p, t, f = metric.points, metric.target, metric.floor
    if metric.direction == "min":
        met = v >= t - SLACK
        if met:
            return p, True
        if metric.rule == "threshold":
            return 0.0, False
        if metric.rule == "proportional":
            return p * min(1.0, max(0.0, v) / t), False
        assert f is not None
        return p * min(1.0, max(0.0, (v - f) / (t - f))), False
    met = v <= t + SLACK
    if met:
        return p, True
    if metric.rule == "threshold":
        return 0.0, False
    if metric.rule == "proportional":
        return (p if v <= 0 else p * min(1.0, t / v)), False
    assert f is not None
    return p * min(1.0, max(0.0, (f - v) / (f - t))), False


def round_half_away(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0


def reference_document(
    inputs: Inputs, scheme: Scheme, *, year: int, as_of: datetime | None = None
) -> dict[str, Any]:
    """The result document (without breakdowns, plus "task_lines") computed one record at a time."""
    tz = scheme.tz
    if as_of is None:
        as_of = datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
    cutoff = math.floor((as_of - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    cal = ReferenceCalendar(scheme)
    units = inputs.units
    n = len(units)

    def local_date(seconds: int) -> date:
        return datetime.fromtimestamp(seconds, tz).date()

    def in_year(d: Any) -> bool:
        return date.fromisoformat(str(d)).year == year

    # The standing tolerance decision per (unit, target type, target): latest date, then later record.
    tol = inputs.tolerances
    standing: dict[tuple[int, str, str], int] = {}
    for i in range(len(tol)):
        key = (int(tol.unit[i]), str(tol.target_type[i]), str(tol.target[i]))
        if key not in standing or tol.date[i] >= tol.date[standing[key]]:
            standing[key] = i
    mitigation = scheme.error_reports.mitigation_factor

    def decision(unit: int, kind: str, target: str) -> str | None:
        i = standing.get((unit, kind, target))
        return None if i is None else str(tol.decision[i])

    # §4 timeliness
    rules = scheme.timeliness
    sum_w, sum_wc, counted = [0.0] * n, [0.0] * n, [False] * n
    task_lines: dict[tuple[str, str], dict[str, Any]] = {}
    tk = inputs.tasks
    for i in range(len(tk)):
        cancelled, due, reported = int(tk.cancelled_at[i]), int(tk.due_at[i]), int(tk.reported_at[i])
        if cancelled != NO_TIME and cancelled <= cutoff:
            continue
        if due > cutoff or local_date(due).year != year:
            continue
        w = rules.priority_weights[tk.priority_names[int(tk.priority[i])]]
        if not tk.is_lead[i]:
            w = w * rules.co_unit_weight
        if w <= 0:
            continue
        late: int | None = None
        latest = int(tk.latest_at[i])
        if reported == NO_TIME or reported > cutoff:
            c = 0.0
        elif reported <= due:
            c, late = 1.0, 0
        else:
            late = max(1, cal.working_days_between(local_date(due), local_date(reported)))
            c = max(0.0, 1.0 - rules.late_penalty_per_working_day * late)
            if latest != NO_TIME and reported > latest:
                c = 0.0  # §4: past the `latest` cut-off nothing is earned
        u = int(tk.unit[i])
        d = decision(u, "task", str(tk.task_id[i]))
        if d == "exempt":
            c = 1.0
        elif d == "mitigate":
            c = 1.0 - (1.0 - c) * mitigation
        task_lines[(units.ids[u], str(tk.task_id[i]))] = {
            "weight": w,
            "credit": c,
            "late_working_days": late,
            "due_at": datetime.fromtimestamp(due, tz).isoformat(),
            "reported_at": None if late is None else datetime.fromtimestamp(reported, tz).isoformat(),
            "tolerance": None
            if d is None
            else {"id": str(tol.id[standing[(u, "task", str(tk.task_id[i]))]]), "decision": d},
            "verified": None if late is None else bool(tk.verified[i]),
            "extended": bool(tk.extended[i]),
        }
        counted[u] = True
        sum_w[u] += w
        sum_wc[u] += w * c
    t_earned = [rules.points * sum_wc[u] / sum_w[u] if counted[u] else 0.0 for u in range(n)]
    t_max = [rules.points if counted[u] else 0.0 for u in range(n)]

    # §5 indicators
    rd = inputs.readings
    m_earned, m_max = [0.0] * n, [0.0] * n
    for metric in scheme.metrics:
        for u in range(n):
            if (
                metric.applies_to
                and units.ids[u] not in metric.applies_to
                and units.categories[u] not in metric.applies_to
            ):
                continue
            rows = [
                i
                for i in range(len(rd))
                if int(rd.unit[i]) == u
                and rd.metric[i] == metric.id
                and period_year_and_end(str(rd.period[i]))[0] == year
            ]
            value: float | None = None
            if metric.kind == "ratio":
                rows = [
                    i for i in rows if not math.isnan(rd.numerator[i]) and not math.isnan(rd.denominator[i])
                ]
                if rows:
                    num = sum(float(rd.numerator[i]) for i in rows)
                    den = sum(float(rd.denominator[i]) for i in rows)
                    if den == 0:
                        continue  # not applicable: neither earned nor max
                    value = num / den
            else:
                rows = [i for i in rows if not math.isnan(rd.value[i])]
                vals = [float(rd.value[i]) for i in rows]
                if vals:
                    if metric.aggregate == "sum":
                        value = sum(vals)
                    elif metric.aggregate == "mean":
                        value = sum(vals) / len(vals)
                    elif metric.aggregate == "max":
                        value = max(vals)
                    elif metric.aggregate == "min":
                        value = min(vals)
                    else:
                        latest = max(rows, key=lambda i: (period_year_and_end(str(rd.period[i]))[1], i))
                        value = float(rd.value[latest])
            m_max[u] += metric.points
            if value is not None:
                m_earned[u] += rule_points(metric, value)[0]
            else:
                m_earned[u] += 0.0

    # §7 errors, incentives, accountability
    er = inputs.errors
    err_sum = [0.0] * n
    for i in range(len(er)):
        if not in_year(er.date[i]):
            continue
        points = scheme.error_reports.deductions[str(er.severity[i])]
        u = int(er.unit[i])
        d = decision(u, "error_report", str(er.id[i]))
        if er.voided[i] or d == "exempt":
            points = 0.0
        elif d == "mitigate":
            points = points * mitigation
        err_sum[u] += points
    inc_sum = [0.0] * n
    for i in range(len(inputs.incentives)):
        if in_year(inputs.incentives.date[i]):
            inc_sum[int(inputs.incentives.unit[i])] += scheme.incentives.points[
                str(inputs.incentives.level[i])
            ]
    acc_sum, veto = [0.0] * n, [False] * n
    ac = inputs.accountability
    for i in range(len(ac)):
        if in_year(ac.date[i]):
            kind = scheme.accountability.kinds[str(ac.kind[i])]
            acc_sum[int(ac.unit[i])] += kind.deduction
            veto[int(ac.unit[i])] = veto[int(ac.unit[i])] or kind.veto

    # §6, §8
    results: list[dict[str, Any]] = []
    for u in range(n):
        maximum = t_max[u] + m_max[u]
        base = 100.0 if maximum == 0 else 100.0 * (t_earned[u] + m_earned[u]) / maximum
        bonus = min(scheme.incentives.cap, inc_sum[u])
        err = min(scheme.error_reports.cap, err_sum[u])
        acc = min(scheme.accountability.cap, acc_sum[u])
        total = max(0.0, base + bonus - err - acc)
        results.append(
            {
                "unit": units.ids[u],
                "name": units.names[u],
                "category": units.categories[u],
                "timeliness_earned": t_earned[u],
                "timeliness_max": t_max[u],
                "metrics_earned": m_earned[u],
                "metrics_max": m_max[u],
                "base": base,
                "bonus": bonus,
                "error_deduction": err,
                "accountability_deduction": acc,
                "veto": veto[u],
                "total": round_half_away(total),
                "rank": 0,
                "grade": "",
                "nothing_assessed": maximum == 0,
            }
        )
    g = scheme.grades
    categories = list(dict.fromkeys(units.categories))
    for cat in categories:
        members = [r for r in results if r["category"] == cat]
        clean = [r for r in members if not r["veto"]]
        vetoed = [r for r in members if r["veto"]]
        for r in clean:
            r["rank"] = 1 + sum(1 for o in clean if o["total"] > r["total"])
        for r in vetoed:
            r["rank"] = len(clean) + 1 + sum(1 for o in vetoed if o["total"] > r["total"])
        quota = max(1, math.floor(Decimal(repr(g.excellent_quota)) * len(members)))
        for r in members:
            if r["veto"]:
                r["grade"] = "poor"
            elif r["total"] >= g.excellent_min and r["rank"] <= quota:
                r["grade"] = "excellent"
            elif r["total"] >= g.good_min:
                r["grade"] = "good"
            elif r["total"] >= g.pass_min:
                r["grade"] = "fair"
            else:
                r["grade"] = "poor"
    results.sort(key=lambda r: (categories.index(r["category"]), r["rank"], r["unit"]))
    warnings = set(cal.uncovered)
    if not statutory_covers(year):
        warnings.add(year)
    return {
        "year": year,
        "scheme": scheme.id,
        "as_of": as_of.astimezone(tz).isoformat(),
        "calendar_warnings": sorted(warnings),
        "units": results,
        # Not part of the document: the counted tasks per (unit, task), to check breakdowns against.
        "task_lines": task_lines,
    }


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
