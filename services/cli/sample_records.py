"""The sample county's records: errors, appeals, incentives, tolerance, accountability and its appeals."""

from __future__ import annotations

from datetime import date, timedelta

from services.cli.sample_data import (
    ACCOUNTABILITY_APPEALS,
    ACCOUNTABILITY_REASONS,
    ERROR_CATEGORY_WEIGHTS,
    ERROR_DESCRIPTIONS,
    LEVEL_REASONS,
    LEVEL_WEIGHTS,
    SEVERITY_WEIGHTS,
)
from services.cli.sample_readings import ReadingRecords
from services.cli.sample_year import GeneratedTask, Record, weighted


class RecordGenerator(ReadingRecords):
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
