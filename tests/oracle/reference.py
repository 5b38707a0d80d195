"""An independent reading of SCORING.md §1–§8, written from the spec alone.

Plain Python, no numpy, no project code. Numbers are kept as exact fractions: every
decimal written in the scheme or the ledger (0.1, 0.75 …) means that decimal exactly, so
"full precision" in §8 is taken literally and rounding half away from zero is exact.
Results come back as floats, with `total_exact` and a `fragile` flag for totals that
sit on a rounding boundary (where a float implementation may legitimately land on
either side, depending on the order of its operations).

Usage:
    scheme = load_scheme(path)            # dict from tomllib, floats parsed exactly
    records = load_ledger(path)           # list of dicts, in recorded order
    result = score(scheme, records, year, as_of=None)
"""

from __future__ import annotations

import calendar as _cal
import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

SLACK = Fraction(1, 10**9)


# ---------------------------------------------------------------- loading


def load_scheme(source: str | Path) -> dict[str, Any]:
    text = (
        Path(source).read_text(encoding="utf-8") if isinstance(source, Path) or "\n" not in source else source
    )
    return tomllib.loads(text, parse_float=Fraction)


def load_ledger(source: str | Path | list[str]) -> list[dict[str, Any]]:
    if isinstance(source, list):
        lines = source
    else:
        text = (
            Path(source).read_text(encoding="utf-8")
            if isinstance(source, Path) or "\n" not in source
            else source
        )
        lines = text.splitlines()
    return [json.loads(line, parse_float=Fraction) for line in lines if line.strip()]


def num(x: Any) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, bool):
        raise TypeError(x)
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, float):
        return Fraction(repr(x))
    return Fraction(str(x))


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text}")
    return parsed


# ---------------------------------------------------------------- §1 calendar


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class WorkCalendar:
    def __init__(self, scheme: dict[str, Any], variants: frozenset[str] = frozenset()) -> None:
        self.variants = variants
        cal = scheme.get("calendar", {})
        # TOML writes a date bare (2025-01-01, read as a date) or as a string.
        self.extra_workdays = {_day(d) for d in cal.get("extra_workdays", [])}
        self.extra_holidays = {_day(d) for d in cal.get("extra_holidays", [])}
        self.uncovered_years: set[int] = set()  # every uncovered year looked at
        self.recent: set[int] = set()  # … since the last reset (per task)

    def is_working_day(self, d: date) -> bool:
        if "holidays_win" in self.variants and d in self.extra_holidays:
            return False
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        if "weekdays_only" in self.variants:
            return d.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            self.uncovered_years.add(d.year)
            self.recent.add(d.year)
            return d.weekday() < 5

    def working_days_between(self, a: date, b: date) -> int:
        count = 0
        d = a if "wdb_inclusive" in self.variants else a + timedelta(days=1)
        while d <= b:
            if self.is_working_day(d):
                count += 1
            d += timedelta(days=1)
        return count

    def nth_working_day_after(self, a: date, n: int) -> date:
        d = a
        found = 0
        while found < n:
            d += timedelta(days=1)
            if self.is_working_day(d):
                found += 1
        return d


# ---------------------------------------------------------------- §2 due instants


def add_months(d: date, n: int) -> date:
    months = d.year * 12 + (d.month - 1) + n
    y, m = divmod(months, 12)
    m += 1
    return date(y, m, min(d.day, _cal.monthrange(y, m)[1]))


def end_of_day(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=tz)


def compute_due(
    limit: dict[str, Any],
    assigned_at: datetime,
    cal: WorkCalendar,
    tz: Any,
    variants: frozenset[str] = frozenset(),
) -> datetime:
    amount = limit["amount"]
    unit = limit["unit"]
    local_date = assigned_at.astimezone(tz).date()
    if unit == "minutes":
        return assigned_at + timedelta(minutes=float(amount))
    if unit == "hours":
        return assigned_at + timedelta(hours=float(amount))
    if unit == "working_days":
        return end_of_day(cal.nth_working_day_after(local_date, int(amount)), tz)
    if unit == "calendar_days":
        return end_of_day(local_date + timedelta(days=int(amount)), tz)
    if unit == "months":
        if "month_overflow" in variants:
            first = add_months(local_date.replace(day=1), int(amount))
            return end_of_day(first + timedelta(days=local_date.day - 1), tz)
        return end_of_day(add_months(local_date, int(amount)), tz)
    raise ValueError(f"unknown limit unit {unit}")


# ---------------------------------------------------------------- periods (§5)


def period_span(period: str) -> tuple[date, date]:
    parts = period.split("-")
    if len(parts) == 1:
        y = int(parts[0])
        return date(y, 1, 1), date(y, 12, 31)
    if len(parts) == 2:
        y, m = int(parts[0]), int(parts[1])
        return date(y, m, 1), date(y, m, _cal.monthrange(y, m)[1])
    d = date.fromisoformat(period)
    return d, d


# ---------------------------------------------------------------- result types


@dataclass
class UnitResult:
    unit: str
    name: str
    category: str
    timeliness_earned: Fraction = Fraction(0)
    timeliness_max: Fraction = Fraction(0)
    metrics_earned: Fraction = Fraction(0)
    metrics_max: Fraction = Fraction(0)
    base: Fraction = Fraction(0)
    bonus: Fraction = Fraction(0)
    error_deduction: Fraction = Fraction(0)
    accountability_deduction: Fraction = Fraction(0)
    veto: bool = False
    total_exact: Fraction = Fraction(0)
    total: Fraction = Fraction(0)
    rank: int = 0
    grade: str = ""
    nothing_assessed: bool = False
    fragile: bool = False
    tasks: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        keys = (
            "timeliness_earned",
            "timeliness_max",
            "metrics_earned",
            "metrics_max",
            "base",
            "bonus",
            "error_deduction",
            "accountability_deduction",
            "total",
        )
        out: dict[str, Any] = {"unit": self.unit, "name": self.name, "category": self.category}
        out.update({k: float(getattr(self, k)) for k in keys})
        out.update(
            veto=self.veto,
            rank=self.rank,
            grade=self.grade,
            nothing_assessed=self.nothing_assessed,
            fragile=self.fragile,
            total_exact=self.total_exact,
        )
        return out


def round_half_away(x: Fraction, places: int = 2) -> Fraction:
    scale = 10**places
    scaled = abs(x) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    return Fraction(rounded if x >= 0 else -rounded, scale)


def near_boundary(x: Fraction, places: int = 2) -> bool:
    """True when x·10^places is within 1e-7 of a .5 (a float may round it either way)."""
    scaled = abs(x) * 10**places
    frac = scaled - math.floor(scaled)
    return abs(frac - Fraction(1, 2)) < Fraction(1, 10**7)


# ---------------------------------------------------------------- scoring

VARIANTS = {
    # Other readings of places where the spec could be read another way; used only to
    # measure whether the generated data tells them apart (tests/oracle/sensitivity.py).
    "tolerance_all_parties": "a task's tolerance decision applies to every unit on the task",
    "tolerance_by_record": "the latest decision is the last recorded, whatever its date",
    "tolerance_per_target": (
        "one decision per target across units (a co-unit's later decision displaces the lead's)"
    ),
    "appeal_latest": "the latest appeal decides whether a report is void",
    "records_as_of": "error reports, incentives and accountability after as_of are ignored",
    "tolerance_as_of": "tolerance decisions dated after as_of are ignored",
    "appeal_as_of": "appeals dated after as_of are ignored",
    "reject_as_of": "rejects after as_of are ignored",
    "quota_float": "q computed with a float product",
    "cancel_any": "a cancel at any time drops the task",
    "report_any": "a report after as_of counts too",
    "due_any": "tasks due after as_of (in the year) are counted",
    "last_recorded_first": "a tie for `last` keeps the first recorded reading",
    "co_weight_ignored": "co-units weigh like the lead",
    "rejected_all": "a reject rejects every unrejected report before it",
    "holidays_win": "extra_holidays checked before extra_workdays",
    "weekdays_only": "the statutory calendar ignored (Mon–Fri)",
    "month_overflow": "months not clamped (Jan 31 + 1 month = Mar 3)",
    "utc_dates": "'date of' taken in UTC rather than the scheme's timezone",
    "L_no_min": "L without the max(1, …)",
    "wdb_inclusive": "working_days_between counts both ends",
    "exact_compare": "no 1e-9 slack when comparing with the target",
    "mitigate_plain": "mitigate on a task: c × factor instead of 1 − (1 − c) × factor",
    "truncate_seconds": "instants cut to whole seconds (fractions of a second dropped)",
}


def score(
    scheme: dict[str, Any],
    records: list[dict[str, Any]],
    year: int,
    as_of: datetime | str | None = None,
    last_by: str = "end",
    variants: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Score `year` from the scheme dict and the ledger records (in recorded order).

    last_by: how `aggregate = "last"` orders periods of mixed granularity: "end" (the
    period ending latest is the latest; default), "start", or "string".
    variants: alternative readings (VARIANTS), for sensitivity checks only.
    """
    tz: Any = ZoneInfo(scheme.get("scheme", {}).get("timezone", "Asia/Shanghai"))
    cal = WorkCalendar(scheme, variants)
    if "utc_dates" in variants:
        tz = UTC
    if as_of is None:
        # Notation: the earlier of the year's last second and the instant the run is made (now).
        cutoff = datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
        if now is not None and now < cutoff:
            cutoff = now
    elif isinstance(as_of, str):
        cutoff = instant(as_of)
    else:
        cutoff = as_of

    tl = scheme["timeliness"]
    points_t = num(tl["points"])
    penalty = num(tl["late_penalty_per_working_day"])
    co_weight = num(tl["co_unit_weight"])
    pweights = {k: num(v) for k, v in tl["priority_weights"].items()}
    errors_s = scheme["errors"]
    mitigation_err = num(errors_s["mitigation_factor"])
    # §4 names `mitigation_factor` without a section; the scheme has exactly one (errors).
    mitigation = mitigation_err

    units: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}
    events: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = {}
    error_reports: dict[str, dict[str, Any]] = {}
    readings: list[tuple[int, dict[str, Any]]] = []
    incentives: list[dict[str, Any]] = []
    tolerances: list[tuple[int, dict[str, Any]]] = []
    accountability: list[dict[str, Any]] = []
    appeals: list[dict[str, Any]] = []

    for index, rec in enumerate(records):
        kind = rec["type"]
        if kind == "unit":
            units[rec["id"]] = rec
        elif kind == "task":
            tasks[rec["id"]] = rec
            events.setdefault(rec["id"], [])
        elif kind == "task_event":
            at = instant(rec["at"])
            if "truncate_seconds" in variants:
                at = at.replace(microsecond=0)
            events.setdefault(rec["task"], []).append((at, index, rec))
        elif kind == "error_report":
            error_reports[rec["id"]] = rec
        elif kind == "metric_reading":
            readings.append((index, rec))
        elif kind == "incentive":
            incentives.append(rec)
        elif kind == "tolerance":
            tolerances.append((index, rec))
        elif kind == "accountability":
            accountability.append(rec)
        elif kind == "appeal":
            appeals.append(rec)
        else:
            raise ValueError(f"unknown record type {kind}")

    # §7 tolerance: "target one task or one error report of U … At most one decision per
    # target (the latest)": U's decisions on a target, the latest by date, then recorded
    # order. (Each unit of a shared task has its own decision; an error report has one unit.)
    latest_tolerance: dict[tuple[str, ...], tuple[Any, int, dict[str, Any]]] = {}
    for index, rec in tolerances:
        if "tolerance_as_of" in variants and date.fromisoformat(rec["date"]) > cutoff.astimezone(tz).date():
            continue
        key: tuple[str, ...] = (rec["target_type"], rec["target"])
        if "tolerance_per_target" not in variants and "tolerance_all_parties" not in variants:
            key = (*key, rec["unit"])
        when = 0 if "tolerance_by_record" in variants else date.fromisoformat(rec["date"]).toordinal()
        stamp = (when, index, rec)
        if key not in latest_tolerance or stamp[:2] >= latest_tolerance[key][:2]:
            latest_tolerance[key] = stamp

    def tolerance_record(target_type: str, target: str, unit: str) -> dict[str, Any] | None:
        """The decision standing for unit on target: the tolerance record itself."""
        key: tuple[str, ...] = (target_type, target)
        if "tolerance_per_target" not in variants and "tolerance_all_parties" not in variants:
            key = (*key, unit)
        found = latest_tolerance.get(key)
        if found is None:
            return None
        if found[2]["unit"] != unit and not (target_type == "task" and "tolerance_all_parties" in variants):
            return None
        return found[2]

    def tolerance_for(target_type: str, target: str, unit: str) -> str | None:
        found = tolerance_record(target_type, target, unit)
        return None if found is None else str(found["decision"])

    results: dict[str, UnitResult] = {
        uid: UnitResult(uid, u.get("name", ""), u["category"]) for uid, u in units.items()
    }

    # ---- §2/§4 timeliness
    acc: dict[str, list[Fraction]] = {uid: [Fraction(0), Fraction(0)] for uid in units}
    used_uncovered: set[int] = set()  # uncovered years the counted tasks needed (§1 rule 4)
    for tid, task in tasks.items():
        cal.recent = set()
        assigned = instant(task["assigned_at"])
        task_type = scheme["task_types"][task["task_type"]]
        evs = sorted(events.get(tid, []), key=lambda e: (e[0], e[1]))
        # §2: the due that counts is the latest extension at or before as_of, else the task's own; `latest`
        # applies only while that is a computed one.
        extensions = [e for e in evs if e[2]["kind"] == "extend" and e[0] <= cutoff]
        latest_at = None
        if extensions:
            due = instant(extensions[-1][2]["due_at"])
        elif task.get("due_at"):
            due = instant(task["due_at"])
        else:
            due = compute_due(task_type["limit"], assigned, cal, tz, variants)
            if task_type.get("latest"):
                latest_at = compute_due(task_type["latest"], assigned, cal, tz, variants)
        cancelled = any(
            e[2]["kind"] == "cancel" and (e[0] <= cutoff or "cancel_any" in variants) for e in evs
        )
        if cancelled:
            continue
        if due.astimezone(tz).date().year != year or (due > cutoff and "due_any" not in variants):
            continue
        reports: list[list[Any]] = []  # [at, rejected, recorded index]
        for at, index, ev in evs:
            if ev["kind"] == "report":
                reports.append([at, False, index])
            elif ev["kind"] == "reject":
                if "reject_as_of" in variants and at > cutoff:
                    continue
                for rep in reversed(reports):
                    if not rep[1]:
                        rep[1] = True
                        if "rejected_all" not in variants:
                            break
        counting = [rep for rep in reports if not rep[1] and (rep[0] <= cutoff or "report_any" in variants)]
        reported = counting[-1][0] if counting else None
        # §9/§10: verified when a verify follows the report that counts in the ledger (at any time).
        verified = (
            any(e[2]["kind"] == "verify" and (e[0], e[1]) > (counting[-1][0], counting[-1][2]) for e in evs)
            if counting
            else None
        )
        if reported is None:
            credit = Fraction(0)
            lateness = None
        elif reported <= due:
            credit = Fraction(1)
            lateness = 0
        elif latest_at is not None and reported > latest_at:
            # §4: after the `latest` cut-off nothing is earned, however few working days late.
            lateness = max(
                1, cal.working_days_between(due.astimezone(tz).date(), reported.astimezone(tz).date())
            )
            credit = Fraction(0)
        else:
            lateness = max(
                0 if "L_no_min" in variants else 1,
                cal.working_days_between(due.astimezone(tz).date(), reported.astimezone(tz).date()),
            )
            credit = max(Fraction(0), 1 - penalty * lateness)
        used_uncovered |= cal.recent
        base_weight = pweights[task.get("priority", "normal")]
        cw = 1 if "co_weight_ignored" in variants else co_weight
        parties = [(task["lead_unit"], base_weight)] + [
            (c, base_weight * cw) for c in task.get("co_units", [])
        ]
        for uid, weight in parties:
            if weight == 0:
                continue
            c = credit
            standing = tolerance_record("task", tid, uid)
            decision = None if standing is None else str(standing["decision"])
            if decision == "exempt":
                c = Fraction(1)
            elif decision == "mitigate":
                c = c * mitigation if "mitigate_plain" in variants else 1 - (1 - c) * mitigation
            acc[uid][0] += weight * c
            acc[uid][1] += weight
            results[uid].tasks.append(
                {
                    "task": tid,
                    "weight": weight,
                    "due_at": due.isoformat(),
                    "reported_at": reported.isoformat() if reported else None,
                    "L": lateness,
                    "credit": c,
                    "tolerance": decision,
                    "tolerance_id": None if standing is None else standing["id"],
                    "verified": verified,
                    "extended": bool(extensions),
                }
            )
    for uid, (wc, w) in acc.items():
        r = results[uid]
        if w > 0:
            r.timeliness_max = points_t
            r.timeliness_earned = points_t * wc / w

    # ---- §5 metrics
    by_unit_metric: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for index, rec in readings:
        start, _end = period_span(str(rec["period"]))
        if start.year != year:
            continue
        by_unit_metric.setdefault((rec["unit"], rec["metric"]), []).append((index, rec))

    def period_key(p: str) -> Any:
        start, end = period_span(p)
        return {"end": end, "start": start, "string": p}[last_by]

    for metric in scheme.get("metrics", []):
        applies = metric.get("applies_to") or []
        p = num(metric["points"])
        t = num(metric["target"])
        for uid, u in units.items():
            if applies and u["category"] not in applies and uid not in applies:
                continue
            rs = by_unit_metric.get((uid, metric["id"]), [])
            entry: dict[str, Any] = {"metric": metric["id"]}
            if not rs:
                entry.update(status="missing", earned=Fraction(0), max=p)
                results[uid].metrics_max += p
                results[uid].metrics.append(entry)
                continue
            if metric["kind"] == "ratio":
                den = sum((num(r["denominator"]) for _, r in rs), Fraction(0))
                nume = sum((num(r["numerator"]) for _, r in rs), Fraction(0))
                if den == 0:
                    entry.update(status="not_applicable")
                    results[uid].metrics.append(entry)
                    continue
                v = nume / den
            else:
                values = [num(r["value"]) for _, r in rs]
                agg = metric["aggregate"]
                if agg == "sum":
                    v = sum(values, Fraction(0))
                elif agg == "mean":
                    v = sum(values, Fraction(0)) / len(values)
                elif agg == "max":
                    v = max(values)
                elif agg == "min":
                    v = min(values)
                elif agg == "last":
                    best = None
                    for _index, r in rs:  # in recorded order: a tie keeps the later one
                        k = period_key(str(r["period"]))
                        if (
                            best is None
                            or k > best[0]
                            or (k == best[0] and "last_recorded_first" not in variants)
                        ):
                            best = (k, num(r["value"]))
                    assert best is not None
                    v = best[1]
                else:
                    raise ValueError(agg)
            rule = metric["rule"]
            direction = metric["direction"]
            slack = Fraction(0) if "exact_compare" in variants else SLACK
            met = v >= t - slack if direction == "min" else v <= t + slack
            if met:
                # "status met when v reaches t", within the slack §5 allows comparisons with the target:
                # reaching the target earns every point, whatever the rule.
                earned = p
            elif rule == "threshold":
                earned = Fraction(0)
            elif rule == "proportional":
                if direction == "min":
                    earned = p * min(Fraction(1), max(Fraction(0), v) / t)
                else:
                    earned = p if v <= 0 else p * min(Fraction(1), t / v)
            elif rule == "linear":
                f = num(metric["floor"])
                if direction == "min":
                    earned = p * min(Fraction(1), max(Fraction(0), (v - f) / (t - f)))
                else:
                    earned = p * min(Fraction(1), max(Fraction(0), (f - v) / (f - t)))
            else:
                raise ValueError(rule)
            entry.update(status="met" if met else "below", value=v, earned=earned, max=p)
            results[uid].metrics_earned += earned
            results[uid].metrics_max += p
            results[uid].metrics.append(entry)

    # ---- §6 base
    for r in results.values():
        mx = r.timeliness_max + r.metrics_max
        if mx == 0:
            r.base = Fraction(100)
            r.nothing_assessed = True
        else:
            r.base = 100 * (r.timeliness_earned + r.metrics_earned) / mx

    # ---- §7 errors, incentives, accountability
    cut_date = cutoff.astimezone(tz).date()
    voided = {
        a["error_report"]
        for a in appeals
        if a.get("upheld") is True
        and not ("appeal_as_of" in variants and date.fromisoformat(a["date"]) > cut_date)
    }
    if "appeal_latest" in variants:
        last_appeal: dict[str, Any] = {}
        for a in appeals:
            if not ("appeal_as_of" in variants and date.fromisoformat(a["date"]) > cut_date):
                last_appeal[a["error_report"]] = a
        voided = {k for k, a in last_appeal.items() if a.get("upheld") is True}

    def in_scope(d: str) -> bool:
        day = date.fromisoformat(d)
        return day.year == year and not ("records_as_of" in variants and day > cut_date)

    deductions = {k: num(v) for k, v in errors_s["deductions"].items()}
    err_sum: dict[str, Fraction] = {uid: Fraction(0) for uid in units}
    for eid, e in error_reports.items():
        if not in_scope(e["date"]) or eid in voided:
            continue
        d = deductions[e["severity"]]
        decision = tolerance_for("error_report", eid, e["unit"])
        if decision == "exempt":
            d = Fraction(0)
        elif decision == "mitigate":
            d = d * mitigation_err
        err_sum[e["unit"]] += d
    inc_points = {k: num(v) for k, v in scheme["incentives"]["points"].items()}
    inc_sum: dict[str, Fraction] = {uid: Fraction(0) for uid in units}
    for i in incentives:
        if in_scope(i["date"]):
            inc_sum[i["unit"]] += inc_points[i["level"]]
    kinds = scheme["accountability"]["kinds"]
    acc_sum: dict[str, Fraction] = {uid: Fraction(0) for uid in units}
    veto: dict[str, bool] = {uid: False for uid in units}
    for a in accountability:
        if not in_scope(a["date"]):
            continue
        k = kinds[a["kind"]]
        acc_sum[a["unit"]] += num(k["deduction"])
        if k.get("veto") is True:
            veto[a["unit"]] = True
    for uid, r in results.items():
        r.error_deduction = min(num(errors_s["cap"]), err_sum[uid])
        r.bonus = min(num(scheme["incentives"]["cap"]), inc_sum[uid])
        r.accountability_deduction = min(num(scheme["accountability"]["cap"]), acc_sum[uid])
        r.veto = veto[uid]

    # ---- §8 total, rank, grade
    grades = scheme["grades"]
    for r in results.values():
        r.total_exact = max(Fraction(0), r.base + r.bonus - r.error_deduction - r.accountability_deduction)
        r.total = round_half_away(r.total_exact)
        r.fragile = near_boundary(r.total_exact)
    categories: dict[str, list[UnitResult]] = {}
    for r in results.values():
        categories.setdefault(r.category, []).append(r)
    quota_fragile: dict[str, bool] = {}
    for cat, members in categories.items():
        clean = [r for r in members if not r.veto]
        vetoed = [r for r in members if r.veto]
        for group, offset in ((clean, 0), (vetoed, len(clean))):
            for r in group:
                r.rank = offset + 1 + sum(1 for o in group if o.total > r.total)
        n = len(members)
        quota = num(grades["excellent_quota"])
        q = max(1, math.floor(n * quota))
        q_float = max(1, math.floor(n * float(quota)))
        if "quota_float" in variants:
            q = q_float
        quota_fragile[cat] = q != q_float
        for r in members:
            if r.veto:
                r.grade = "poor"
            elif r.total >= num(grades["excellent_min"]) and r.rank <= q:
                r.grade = "excellent"
            elif r.total >= num(grades["good_min"]):
                r.grade = "good"
            elif r.total >= num(grades["pass_min"]):
                r.grade = "fair"
            else:
                r.grade = "poor"

    return {
        "year": year,
        "as_of": cutoff.isoformat(),
        "calendar_warnings": sorted(used_uncovered),
        "quota_fragile": quota_fragile,
        "units": [r.as_dict() for r in results.values()],
        "detail": results,
    }
