"""The sample county's records: errors, appeals, readings, incentives, tolerance, accountability, targets."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.cli.sample_data import (
    ACCOUNTABILITY_APPEALS,
    ACCOUNTABILITY_REASONS,
    DEPARTMENTS,
    ERROR_CATEGORY_WEIGHTS,
    ERROR_DESCRIPTIONS,
    LEVEL_REASONS,
    LEVEL_WEIGHTS,
    OFFICE_HOURS,
    SEVERITY_WEIGHTS,
    TARGET_FACTORS,
    TOWNSHIPS,
)
from services.common.calendar import WorkCalendar
from services.common.scheme import Metric, Scheme, TaskType

Record = dict[str, Any]


@dataclass
class GeneratedTask:
    """A generated task while its events are written."""

    record: Record
    task_type: TaskType
    lead: str
    assigned: datetime
    due: datetime
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)

    @property
    def counted_report(self) -> datetime | None:
        """The report that stands (the latest one not rejected after it), among the kept events."""
        reports: list[datetime] = []
        for kind, at, _ in self.events:
            if kind == "report":
                reports.append(at)
            elif kind == "reject" and reports:
                reports.pop()
        return reports[-1] if reports else None

    @property
    def cancelled(self) -> bool:
        return any(kind == "cancel" for kind, _, _ in self.events)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def weighted(rng: random.Random, pairs: Sequence[tuple[str, int]], allowed: Iterable[str]) -> str | None:
    known = set(allowed)
    choices = [(name, w) for name, w in pairs if name in known]
    # Names the scheme has beyond the usual ones still occur, rarely.
    choices += [(name, 1) for name in sorted(known - {n for n, _ in pairs})]
    if not choices:
        return None
    return rng.choices([n for n, _ in choices], weights=[w for _, w in choices])[0]


class CountyYear:
    """One pass of generation over a year; every random draw comes from one Random, in a fixed order."""

    def __init__(self, *, scheme: Scheme, year: int, until: date, rng: random.Random) -> None:
        self.scheme = scheme
        self.year = year
        self.rng = rng
        self.tz = scheme.tz
        self.calendar: WorkCalendar = scheme.calendar()
        self.first_day = date(year, 1, 1)
        self.last_day = min(until, date(year, 12, 31))  # last day tasks and records are dated
        self.until_end = datetime.combine(until, time(23, 59, 59), tzinfo=self.tz)
        self.full_year = until >= date(year, 12, 31)
        self.days = [
            self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)
        ]
        self.working_days = [d for d in self.days if self.calendar.is_working_day(d)]
        self.units: list[tuple[str, str, str]] = [(u, n, "department") for u, n in DEPARTMENTS] + [
            (u, n, "township") for u, n in TOWNSHIPS
        ]
        self.names = {u: n for u, n, _ in self.units}
        self.departments = [u for u, _, c in self.units if c == "department"]
        self.townships = [u for u, _, c in self.units if c == "township"]

    # --- time helpers -----------------------------------------------------------------------

    def _at(self, d: date, minutes: int) -> datetime:
        return datetime.combine(d, time(minutes // 60, minutes % 60), tzinfo=self.tz)

    def _office_time(self, d: date) -> datetime:
        return self._at(d, self.rng.randrange(*OFFICE_HOURS))

    def _working_day_after(self, d: date, n: int) -> date:
        return self.calendar.add_working_days(d, n)

    def _random_day(
        self, *, working: bool, start: date | None = None, end: date | None = None
    ) -> date | None:
        pool = self.working_days if working else self.days
        lo, hi = start or self.first_day, end or self.last_day
        candidates = [d for d in pool if lo <= d <= hi]
        return self.rng.choice(candidates) if candidates else None


class RecordGenerator(CountyYear):
    """The records other than tasks and their events, drawn after them."""

    def _error_reports(self) -> list[Record]:
        severities = list(self.scheme.error_reports.deductions)
        if not severities:
            return []
        drafts: list[tuple[date, Record]] = []
        count = max(2, round(len(self.units) * 1.2 * len(self.days) / 365))
        # Some units collect several reports, most one or none.
        unit_weights = [self.rng.choice((1, 1, 1, 2, 4)) for _ in self.units]
        for _ in range(count):
            unit = self.rng.choices([u for u, _, _ in self.units], weights=unit_weights)[0]
            d = self._random_day(working=True) or self.first_day
            category = weighted(self.rng, ERROR_CATEGORY_WEIGHTS, ERROR_DESCRIPTIONS) or "other"
            severity = weighted(self.rng, SEVERITY_WEIGHTS, severities) or severities[0]
            drafts.append(
                (
                    d,
                    {
                        "type": "error_report",
                        "id": "",
                        "unit": unit,
                        "date": d.isoformat(),
                        "category": category,
                        "severity": severity,
                        "description": self.rng.choice(ERROR_DESCRIPTIONS[category]),
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"E{self.year}-{n:03d}"
        return [r for _, r in drafts]

    def _appeals(self, errors: list[Record]) -> tuple[list[Record], set[str]]:
        """Two appeals against early error reports: the first upheld (its report voided), the second not."""
        latest = self.last_day - timedelta(days=21)
        candidates = [e for e in errors if date.fromisoformat(e["date"]) <= latest]
        picked = self.rng.sample(candidates, min(2, len(candidates)))
        out: list[Record] = []
        for n, (error, upheld) in enumerate(zip(picked, (True, False), strict=False), start=1):
            d = self._working_day_after(date.fromisoformat(error["date"]), self.rng.randrange(2, 8))
            reason = "材料已按时通过系统报送，系统记录可查" if upheld else "认为通报偏重，请求复核"
            out.append(
                {
                    "type": "appeal",
                    "id": f"AP{self.year}-{n:02d}",
                    "target_type": "error_report",
                    "target": error["id"],
                    "date": d.isoformat(),
                    "upheld": upheld,
                    "reason": reason,
                }
            )
        return out, {e["id"] for e in picked}

    def _applies(self, metric: Metric) -> list[str]:
        if not metric.applies_to:
            return [u for u, _, _ in self.units]
        return [u for u, _, c in self.units if u in metric.applies_to or c in metric.applies_to]

    def _periods(self) -> tuple[list[str], list[str], bool]:
        """Months complete by the cutoff, the quarter ends among them, and whether the whole year is."""
        month_ends = [date(self.year, m + 1, 1) - timedelta(days=1) for m in range(1, 12)] + [
            date(self.year, 12, 31)
        ]
        months = [m for m, end in enumerate(month_ends, start=1) if end <= self.last_day]
        monthly = [f"{self.year}-{m:02d}" for m in months]
        quarterly = [f"{self.year}-{m:02d}" for m in months if m % 3 == 0]
        return monthly, quarterly, self.full_year

    def _readings(self) -> list[Record]:
        monthly, quarterly, full_year = self._periods()
        if not monthly:
            return []
        out: list[Record] = []
        for metric in self.scheme.metrics:
            for unit in self._applies(metric):
                if self.rng.random() < 0.03:
                    continue  # 缺报: the unit never reported this indicator
                cadence = self.rng.choice(
                    ("year", "quarter", "month", "month") if full_year else ("quarter", "month")
                )
                periods = {"year": [str(self.year)], "quarter": quarterly, "month": monthly}[
                    cadence
                ] or monthly
                meets = self.rng.random() < 0.75
                if metric.kind == "ratio":
                    out.extend(self._ratio_readings(metric, unit, periods, meets, len(monthly) / 12))
                else:
                    out.extend(self._value_readings(metric, unit, periods, meets, len(monthly) / 12))
        return out

    def _split(self, total: int, parts: int) -> list[int]:
        """An integer total spread over parts with some month-to-month variation (largest remainders)."""
        weights = [self.rng.uniform(0.4, 1.6) for _ in range(parts)]
        shares = [total * w / sum(weights) for w in weights]
        whole = [int(x) for x in shares]
        by_remainder = sorted(range(parts), key=lambda i: whole[i] - shares[i])
        for i in by_remainder[: total - sum(whole)]:
            whole[i] += 1
        return whole

    def _ratio_readings(
        self, metric: Metric, unit: str, periods: list[str], meets: bool, share: float
    ) -> list[Record]:
        rng = self.rng
        t = min(1.0, metric.target) if metric.direction == "min" else metric.target
        if metric.id == "court_appearance_rate":
            denominator = 0 if rng.random() < 0.15 else rng.randint(1, 6)
        elif metric.id == "livelihood_spending_share":
            denominator = rng.randint(150_000, 320_000)  # 万元 of general budget spending
        elif metric.id in ("unannounced_visit_share", "proposal_reply_rate"):
            denominator = rng.randint(8, 40)
        else:
            denominator = rng.randint(30, 600)
        denominator = max(0, round(denominator * (share if metric.id != "court_appearance_rate" else 1)))
        if metric.direction == "min":
            rate = (
                rng.uniform(t, min(1.0, t + (1 - t) * 0.6))
                if meets
                else rng.uniform(max(0.0, t - 0.3), t * 0.97)
            )
        else:
            rate = rng.uniform(t * 0.5, t) if meets else rng.uniform(t * 1.05, min(1.0, t * 1.6))
        rate = min(1.0, max(0.0, rate))
        out: list[Record] = []
        missed = False
        for period, d in zip(periods, self._split(denominator, len(periods)), strict=True):
            if d == 0 and (out or period != periods[-1]):
                continue  # a month without cases is not reported; a unit with none all year reports 0/0 once
            n = min(d, round(rate * d))
            if not meets and not missed and metric.direction == "min" and n == d and d > 0 and t >= 1.0:
                n, missed = d - 1, True  # below a 100% target means at least one miss
            out.append(
                {
                    "type": "metric_reading",
                    "unit": unit,
                    "metric": metric.id,
                    "period": period,
                    "numerator": n,
                    "denominator": d,
                }
            )
        return out

    def _value_readings(
        self, metric: Metric, unit: str, periods: list[str], meets: bool, share: float
    ) -> list[Record]:
        rng = self.rng
        t = metric.target
        integral = float(t).is_integer() and metric.aggregate == "sum"
        if metric.aggregate == "sum":
            if metric.direction == "min":
                total = t * share * (rng.uniform(1.0, 1.4) if meets else rng.uniform(0.4, 0.95))
            else:
                total = t * share * (rng.uniform(0.0, 1.0) if meets else rng.uniform(1.5, 3.5))
            if integral:
                whole = round(total)
                if meets and metric.direction == "min":
                    whole = max(whole, int(-(-t * share // 1)))  # the ceiling, so met stays met
                values: list[float] = [float(v) for v in self._split(whole, len(periods))]
            else:
                weights = [rng.uniform(0.5, 1.5) for _ in periods]
                values = [round(total * w / sum(weights), 2) for w in weights]
        else:
            lo, hi = (t, t * 1.04) if meets else (t * 0.85, t * 0.98)
            if metric.direction == "max":
                lo, hi = (t * 0.6, t) if meets else (t * 1.05, t * 1.6)
            values = [round(rng.uniform(lo, hi), 2) for _ in periods]
        return [
            {
                "type": "metric_reading",
                "unit": unit,
                "metric": metric.id,
                "period": period,
                "value": int(v) if integral else v,
            }
            for period, v in zip(periods, values, strict=True)
        ]

    def _incentives(self) -> list[Record]:
        levels = list(self.scheme.incentives.points)
        if not levels:
            return []
        drafts: list[tuple[date, Record]] = []
        for _ in range(max(1, round(len(self.units) * 0.6 * len(self.days) / 365))):
            level = weighted(self.rng, LEVEL_WEIGHTS, levels) or levels[0]
            d = self._random_day(working=True) or self.first_day
            reason = self.rng.choice(LEVEL_REASONS.get(level, ("表彰奖励",)))
            drafts.append(
                (
                    d,
                    {
                        "type": "incentive",
                        "id": "",
                        "unit": self.rng.choice(self.units)[0],
                        "date": d.isoformat(),
                        "level": level,
                        "reason": reason,
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"I{self.year}-{n:03d}"
        return [r for _, r in drafts]

    def _tolerances(
        self, tasks: list[GeneratedTask], errors: list[Record], appealed: set[str]
    ) -> list[Record]:
        """容错 decisions on late tasks (for their lead unit) and on error reports nobody appealed."""
        late = [t for t in tasks if (r := t.counted_report) is not None and r > t.due and not t.cancelled]
        open_errors = [e for e in errors if e["id"] not in appealed]
        picks: list[tuple[str, str, str, date]] = []
        for task in self.rng.sample(late, min(5, len(late))):
            report = task.counted_report
            assert report is not None
            picks.append(("task", task.record["id"], task.lead, report.date()))
        for error in self.rng.sample(open_errors, min(4, len(open_errors))):
            picks.append(("error_report", error["id"], error["unit"], date.fromisoformat(error["date"])))
        out: list[tuple[date, Record]] = []
        for target_type, target, unit, since in picks:
            d = since + timedelta(days=self.rng.randrange(2, 15))
            if d > self.last_day:
                continue
            decision = "exempt" if self.rng.random() < 0.4 else "mitigate"
            reason = (
                "因防汛抢险临时调整，符合容错情形"
                if decision == "exempt"
                else "探索性改革中出现失误，已及时纠正"
            )
            out.append(
                (
                    d,
                    {
                        "type": "tolerance",
                        "id": "",
                        "unit": unit,
                        "target_type": target_type,
                        "target": target,
                        "decision": decision,
                        "date": d.isoformat(),
                        "reason": reason,
                    },
                )
            )
        out.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(out, start=1):
            record["id"] = f"R{self.year}-{n:02d}"
        return [r for _, r in out]

    def _accountability(self) -> list[Record]:
        kinds = self.scheme.accountability.kinds
        mild = [k for k, v in kinds.items() if not v.veto]
        veto = [k for k, v in kinds.items() if v.veto]
        drafts: list[tuple[date, Record]] = []
        for _ in range(round(len(self.units) / 6 * len(self.days) / 365) if mild else 0):
            kind = weighted(
                self.rng, (("interview", 6), ("circulated_criticism", 3), ("admonishment", 1)), mild
            )
            d = self._random_day(working=True) or self.first_day
            drafts.append(
                (
                    d,
                    {
                        "type": "accountability",
                        "id": "",
                        "unit": self.rng.choice(self.units)[0],
                        "date": d.isoformat(),
                        "kind": kind,
                        "reason": ACCOUNTABILITY_REASONS.get(kind or "", "追责问责"),
                    },
                )
            )
        if veto:
            # One rare 一票否决 in the county: a department's official disciplined.
            kind = veto[0]
            d = self._random_day(working=True) or self.first_day
            drafts.append(
                (
                    d,
                    {
                        "type": "accountability",
                        "id": "",
                        "unit": self.rng.choice(self.departments),
                        "date": d.isoformat(),
                        "kind": kind,
                        "reason": ACCOUNTABILITY_REASONS.get(kind, "受到党纪政务处分"),
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"A{self.year}-{n:02d}"
        return [r for _, r in drafts]

    def _accountability_appeals(self, records: list[Record], *, first: int) -> list[Record]:
        """Two decided appeals against early mild accountability records: the first upheld, the second not.

        The veto is never appealed here, so the sample keeps its one 一票否决 whatever the draws.
        """
        latest = self.last_day - timedelta(days=21)
        kinds = self.scheme.accountability.kinds
        candidates = [
            r for r in records if not kinds[r["kind"]].veto and date.fromisoformat(r["date"]) <= latest
        ]
        picked = self.rng.sample(candidates, min(2, len(candidates)))
        out: list[Record] = []
        for n, (record, (upheld, reason)) in enumerate(zip(picked, ACCOUNTABILITY_APPEALS, strict=False)):
            d = self._working_day_after(date.fromisoformat(record["date"]), self.rng.randrange(2, 8))
            out.append(
                {
                    "type": "appeal",
                    "id": f"AP{self.year}-{first + n:02d}",
                    "target_type": "accountability",
                    "target": record["id"],
                    "date": d.isoformat(),
                    "upheld": upheld,
                    "reason": reason,
                }
            )
        return out

    def _targets(self) -> list[Record]:
        """Own annual targets (目标责任书) for two units on each of up to four metrics, valid for the scheme.

        Only shares and counts are scaled (a mean score has a ceiling the scheme does not state); a linear
        metric's unit gets its own floor scaled like its target, so the pair keeps the metric's order.
        """
        metrics = [
            m
            for m in self.scheme.metrics
            if (m.kind == "ratio" or m.aggregate == "sum") and (m.rule != "linear" or m.floor is not None)
        ]
        out: list[Record] = []
        for metric in self.rng.sample(metrics, min(4, len(metrics))):
            for unit in self.rng.sample(self._applies(metric), min(2, len(self._applies(metric)))):
                factor = self.rng.choice(TARGET_FACTORS)
                target = self._own(metric, metric.target * factor)
                floor = (
                    self._own(metric, metric.floor * factor)
                    if metric.rule == "linear" and metric.floor
                    else None
                )
                if metric.unit_target_problem(target=target, floor=floor) or target == metric.target:
                    continue
                record: Record = {
                    "type": "target",
                    "unit": unit,
                    "metric": metric.id,
                    "year": self.year,
                    "target": target,
                }
                if floor is not None:
                    record["floor"] = floor
                out.append(record)
        return out

    @staticmethod
    def _own(metric: Metric, value: float) -> float:
        """A unit's figure as a 目标责任书 writes it: a share to the percent (at most 100%), else whole."""
        if metric.kind == "ratio":
            return min(1.0, round(value, 2))
        return float(max(1, round(value)))
