"""The sample county's indicator readings and its units' own targets (目标责任书)."""

from __future__ import annotations

from datetime import date, timedelta

from services.cli.sample_data import TARGET_FACTORS
from services.cli.sample_year import CountyYear, Record
from services.common.scheme import Metric


class ReadingRecords(CountyYear):
    """Readings of each metric over its periods, and the targets some units are set."""

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
