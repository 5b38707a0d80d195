"""Seeded random (scheme TOML, ledger JSONL) pairs that stress SCORING.md.

Every input is kept valid per FORMATS.md: unique ids, records after what they refer to,
events not before `assigned_at`, `verify`/`reject` only after an unrejected report,
nothing after `close`/`cancel`, co-units distinct from the lead, timestamps with offsets.

    case = generate(seed)            # year 2025 or 2026
    case = generate(seed, year=2003) # a year the statutory calendar does not cover
    case.scheme_toml, case.ledger_lines, case.year, case.as_ofs (None = the default cutoff)

`python -m tests.oracle.generate SEED OUTDIR` writes scheme.toml and ledger.jsonl.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from tests.oracle.reference import WorkCalendar, add_months, compute_due


@dataclass
class Case:
    seed: int
    year: int
    scheme_toml: str
    ledger_lines: list[str]
    as_ofs: list[str | None]
    notes: list[str] = field(default_factory=list)
    splits: list[int] = field(default_factory=list)  # import in several files, cut before these lines
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"seed {self.seed}"

    def chunks(self) -> list[list[str]]:
        cuts = [0, *self.splits, len(self.ledger_lines)]
        return [self.ledger_lines[a:b] for a, b in itertools.pairwise(cuts) if b > a]

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        scheme = directory / "scheme.toml"
        ledger = directory / "ledger.jsonl"
        scheme.write_text(self.scheme_toml, encoding="utf-8")
        ledger.write_text("\n".join(self.ledger_lines) + "\n", encoding="utf-8")
        return scheme, ledger


# ------------------------------------------------------------------ TOML writing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ helpers

PLUS9 = timezone(timedelta(hours=9))


def _stamp(dt: datetime, rng: random.Random, tz: ZoneInfo) -> str:
    """An ISO timestamp with an offset: mostly local, sometimes UTC or +09:00 (same instant)."""
    roll = rng.random()
    if roll > 0.95:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = tz if roll < 0.72 else (UTC if roll < 0.87 else PLUS9)
    return dt.astimezone(target).isoformat(timespec="seconds")


def _statutory_workday(d: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


def _local(d: date, hh: int, mm: int, tz: ZoneInfo, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm, ss), tzinfo=tz)


def _rand_date(rng: random.Random, year: int, lo: int = 1, hi: int = 365) -> date:
    return date(year, 1, 1) + timedelta(days=rng.randint(lo - 1, hi - 1))


# ------------------------------------------------------------------ the generator


class _Gen:
    def __init__(self, seed: int, year: int | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.year = year if year is not None else self.rng.choice([2025, 2025, 2026, 2024])
        self.lines: list[dict[str, Any]] = []
        self.notes: list[str] = []

    # ---------------- scheme
    def scheme(self) -> str:
        rng, y = self.rng, self.year
        self.tz_name = "Asia/Shanghai" if rng.random() < 0.75 else "Asia/Urumqi"
        self.tz = ZoneInfo(self.tz_name)

        # calendar: local holidays on statutory working days, local make-up days on weekends
        extra_holidays: set[date] = set()
        extra_workdays: set[date] = set()
        while len(extra_holidays) < rng.randint(2, 4):
            d = _rand_date(rng, y)
            if _statutory_workday(d):
                extra_holidays.add(d)
        while len(extra_workdays) < rng.randint(1, 3):
            d = _rand_date(rng, y)
            if not _statutory_workday(d):
                extra_workdays.add(d)
        if rng.random() < 0.4:  # a date in both lists: extra_workdays decides (§1 rule 1)
            d = sorted(extra_holidays)[0]
            extra_workdays.add(d)
            self.notes.append(f"{d} in both extra lists")
        self.calendar = {
            "extra_holidays": sorted(d.isoformat() for d in extra_holidays),
            "extra_workdays": sorted(d.isoformat() for d in extra_workdays),
        }

        self.task_types = {
            "call": {"name": "电话报告", "limit": {"amount": rng.choice([15, 30, 45]), "unit": "minutes"}},
            # 宁强 6: within the limit, and at the latest (SCORING.md §2/§4) nothing after it.
            "written": {
                "name": "书面报告",
                "limit": {"amount": 30, "unit": "minutes"},
                "latest": {"amount": rng.choice([1, 2, 5]), "unit": "hours"},
            },
            "relay": {
                "name": "批示送达",
                "limit": {"amount": rng.choice([1, 2, 4, 24, 30]), "unit": "hours"},
            },
            "directive": {
                "name": "领导批示",
                "limit": {"amount": rng.choice([3, 5, 7]), "unit": "working_days"},
            },
            "letter": {"name": "督办函", "limit": {"amount": rng.choice([1, 2, 3]), "unit": "working_days"}},
            "notice": {
                "name": "通知事项",
                "limit": {"amount": rng.choice([1, 7, 10, 30]), "unit": "calendar_days"},
            },
            "doc": {"name": "配套文件", "limit": {"amount": rng.choice([1, 1, 3]), "unit": "months"}},
            "major": {
                "name": "重大事项",
                "limit": {"amount": rng.choice([6, 12]), "unit": "months"},
                "progress_every": {"amount": 3, "unit": "months"},
            },
        }
        self.timeliness = {
            "points": rng.choice([30, 40, 50, 35.5]),
            "late_penalty_per_working_day": rng.choice([0.1, 0.15, 0.2, 0.05, 0.3]),
            "yellow_threshold": 0.8,
            "co_unit_weight": rng.choice([0.5, 0.5, 0.3, 0.0, 1.0]),
        }
        self.priority_weights = {
            "normal": 1.0,
            "important": rng.choice([1.5, 2.0]),
            "urgent": 3.0,
            "minor": 0.0,
        }

        # units
        self.units: list[tuple[str, str, str]] = []
        n_dep, n_town = rng.randint(4, 7), rng.randint(3, 6)
        self.units += [(f"d{i}", f"部门{i}", "department") for i in range(1, n_dep + 1)]
        self.units += [(f"t{i}", f"乡镇{i}", "township") for i in range(1, n_town + 1)]
        self.with_institution = rng.random() < 0.6
        if self.with_institution:
            self.units += [(f"s{i}", f"事业单位{i}", "institution") for i in range(1, rng.randint(1, 3) + 1)]
        self.unit_ids = [u[0] for u in self.units]
        self.category = {u[0]: u[2] for u in self.units}

        # metrics: every rule × direction once, then a few more
        combos = [(r, d) for r in ("threshold", "proportional", "linear") for d in ("min", "max")]
        rng.shuffle(combos)
        combos += [
            (rng.choice(["threshold", "proportional", "linear"]), rng.choice(["min", "max"]))
            for _ in range(rng.randint(0, 2))
        ]
        aggregates = ["sum", "mean", "max", "min", "last"]
        rng.shuffle(aggregates)
        self.metrics: list[dict[str, Any]] = []
        for i, (rule, direction) in enumerate(combos):
            kind = "ratio" if rng.random() < 0.4 else "value"
            m: dict[str, Any] = {"id": f"m{i}", "name": f"指标{i}", "kind": kind}
            if kind == "value":
                m["aggregate"] = (
                    aggregates.pop() if aggregates else rng.choice(["sum", "mean", "max", "min", "last"])
                )
            m["direction"] = direction
            m["rule"] = rule
            if kind == "ratio":
                target = (
                    rng.choice([1.0, 0.75, 0.5, 0.9]) if direction == "min" else rng.choice([0.05, 0.1, 0.2])
                )
                floor = (
                    round(target - rng.choice([0.25, 0.5]), 2)
                    if direction == "min"
                    else rng.choice([0.5, 0.6])
                )
            else:
                target = rng.choice([60, 12, 100, 7.5]) if direction == "min" else rng.choice([5, 2, 0.3, 10])
                floor = target / 2 if direction == "min" else target * 3
            m["target"] = target
            if rule == "linear":
                m["floor"] = floor
            m["points"] = rng.choice([5, 10, 15, 20, 7.5])
            m["applies_to"] = self._applies_to()
            if m["applies_to"] is None:
                del m["applies_to"]
            self.metrics.append(m)
        if rng.random() < 0.6:  # float slack: 0.1 + 0.2 against 0.3 (lower is better, threshold)
            self.metrics.append(
                {
                    "id": "slack",
                    "name": "浮点容差",
                    "kind": "value",
                    "aggregate": "sum",
                    "direction": "max",
                    "rule": "threshold",
                    "target": 0.3,
                    "points": 5,
                    "applies_to": ["department", "township"],
                }
            )

        self.errors = {"cap": rng.choice([3, 10, 2.5]), "mitigation_factor": rng.choice([0.5, 0.3, 0.25])}
        self.severities = {"general": 0.5, "serious": 1.0, "grave": rng.choice([2.0, 3.0])}
        self.incentives = {"cap": rng.choice([3, 5, 2.5])}
        self.levels = {"national": 3, "provincial": 2, "municipal": 1, "county": 0.5}
        self.accountability = {"cap": rng.choice([4, 15, 6])}
        self.kinds = {
            "interview": {"deduction": 1.0},
            "circulated_criticism": {"deduction": 2.0},
            "admonishment": {"deduction": 3.0},
            "disciplinary": {"deduction": 5.0, "veto": True},
            "dismissal": {"deduction": 0.0, "veto": True},
        }
        self.grades = {
            "excellent_min": rng.choice([85, 90, 95, 100]),
            "excellent_quota": rng.choice([0.2, 0.3, 0.25, 0.5, 0.15, 0.4]),
            "good_min": rng.choice([80, 75]),
            "pass_min": 60,
        }

        head: dict[str, Any] = {
            "id": f"gen-{self.seed}",
            "name": f"生成方案{self.seed}",
            "year": y,
            "timezone": self.tz_name,
        }
        if self.tz_name == "Asia/Shanghai" and rng.random() < 0.5:
            del head["timezone"]  # the default
        parts = [_table("scheme", head), _table("calendar", self.calendar)]
        for tid, tt in self.task_types.items():
            parts.append(_table(f"task_types.{tid}", tt))
        parts.append(_table("timeliness", self.timeliness))
        parts.append(_table("timeliness.priority_weights", self.priority_weights))
        for m in self.metrics:
            parts.append("[[metrics]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in m.items()) + "\n")
        parts.append(_table("errors", self.errors))
        parts.append(_table("errors.deductions", self.severities))
        parts.append(_table("incentives", self.incentives))
        parts.append(_table("incentives.points", self.levels))
        parts.append(_table("accountability", self.accountability))
        for k, v in self.kinds.items():
            parts.append(_table(f"accountability.kinds.{k}", v))
        parts.append(_table("grades", self.grades))
        parts.append(_table("runs", {"appeal_window_working_days": 5}))
        self.work_calendar = WorkCalendar({"calendar": self.calendar})
        return "\n".join(parts)

    def _applies_to(self) -> list[str] | None:
        rng = self.rng
        roll = rng.random()
        deps = [u for u in self.unit_ids if u.startswith("d")]
        towns = [u for u in self.unit_ids if u.startswith("t")]
        if self.with_institution:
            options = [
                ["department", "township"],
                ["department"],
                ["township"],
                rng.sample(deps, 2) + rng.sample(towns, 1),
                ["department", towns[0]],
                ["township", "s1"],
            ]
            return rng.choice(options)
        if roll < 0.25:
            return None
        if roll < 0.4:
            return []
        if roll < 0.6:
            return [rng.choice(["department", "township"])]
        if roll < 0.8:
            return rng.sample(deps, 2) + rng.sample(towns, 1)
        return ["department", towns[0]]

    # ---------------- ledger
    def ledger(self) -> None:
        rng, y = self.rng, self.year
        self.as_of_custom = rng.choice(
            [
                _local(date(y, 9, 30), 18, 0, self.tz),
                _local(date(y, 7, 1), 0, 0, self.tz),
                datetime(y, 11, 30, 20, 30, tzinfo=UTC),
                _local(date(y, 6, 30), 23, 59, self.tz, 59),
            ]
        )
        self.default_as_of = _local(date(y, 12, 31), 23, 59, self.tz, 59)
        for uid, name, cat in self.units:
            self.lines.append({"type": "unit", "id": uid, "name": name, "category": cat})

        # unit profiles: quality drives punctuality and attainment; twins copy a profile
        self.profile: dict[str, dict[str, Any]] = {}
        empties = set()
        for uid in self.unit_ids:
            if uid.startswith("s") and rng.random() < 0.7:
                empties.add(uid)
            self.profile[uid] = {
                "quality": rng.choice([1.0, 1.0, 0.9, 0.7, 0.5, 0.3, 0.0]),
                "seed": rng.randrange(1 << 30),
            }
        # twins: two units of one category that share a profile and receive no co-unit work
        twins: list[tuple[str, str]] = []
        for prefix in ("d", "t"):
            members = [u for u in self.unit_ids if u.startswith(prefix)]
            if len(members) >= 3 and rng.random() < 0.8:
                a, b = rng.sample(members, 2)
                self.profile[b] = dict(self.profile[a])
                twins.append((a, b))
        self.twinned = {u for pair in twins for u in pair}
        self.empties = empties
        self.notes.append(f"twins {twins}; empties {sorted(empties)}")

        self.task_lines: list[dict[str, Any]] = []
        self.tolerance_lines: list[dict[str, Any]] = []
        self.error_lines: list[dict[str, Any]] = []
        self.appeal_lines: list[dict[str, Any]] = []
        self.reading_lines: list[dict[str, Any]] = []
        self.incentive_lines: list[dict[str, Any]] = []
        self.account_lines: list[dict[str, Any]] = []
        self.counter = 0
        for uid in self.unit_ids:
            sub = random.Random(self.profile[uid]["seed"])
            quality = self.profile[uid]["quality"]
            if uid not in empties:
                for _ in range(sub.randint(2, 9)):
                    self._task(uid, sub, quality)
                self._records(uid, sub, quality)
                self._readings(uid, sub, quality)
            elif rng.random() < 0.5:
                self._task(uid, sub, quality, outside=True)  # due in another year: still nothing assessed
        for a, b in twins:
            # near twins: nudge one of b's values a little, so totals differ by less than a cent
            # (or round apart); ranks and grades use the rounded total (§8)
            if rng.random() < 0.6:
                mine = [
                    r
                    for r in self.reading_lines
                    if r["unit"] == b and "value" in r and r["metric"] != "slack" and float(r["value"]) >= 1
                ]
                if mine:
                    pick = rng.choice(mine)
                    pick["value"] = round(float(pick["value"]) - rng.choice([0.01, 0.001, 0.05]), 3)
                    self.notes.append(f"near twin {b} of {a}: {pick['metric']} {pick['period']}")
        rng.shuffle(self.reading_lines)  # recorded order decides `last` ties
        self.lines += self.task_lines + self.error_lines + self.appeal_lines + self.tolerance_lines
        # a second and third file: the rest, with the readings cut in two (recorded order runs on)
        self.splits = [len(self.units) + len(self.task_lines), len(self.lines) + len(self.reading_lines) // 2]
        self.lines += self.reading_lines + self.incentive_lines + self.account_lines

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _co_units(self, lead: str, sub: random.Random) -> list[str]:
        if sub.random() > 0.3:
            return []
        pool = [u for u in self.unit_ids if u != lead and u not in self.twinned and u not in self.empties]
        return sub.sample(pool, min(len(pool), sub.randint(1, 2)))

    def _assigned(self, ttype: str, sub: random.Random, outside: bool) -> datetime:
        y = self.year
        roll = sub.random()
        if outside:  # falls due in another year whatever the type
            d = sub.choice([date(y + 1, 1, sub.randint(5, 20)), date(y - 1, 3, sub.randint(2, 20))])
            if d.year < y and ttype in ("doc", "major"):
                d = date(y - 2, 3, 2)
        elif ttype == "doc" and roll < 0.5:  # month ends: Jan 31 + 1 month → Feb 28 …
            d = sub.choice(
                [
                    date(y, 1, 31),
                    date(y, 3, 31),
                    date(y, 5, 31),
                    date(y, 8, 31),
                    date(y, 10, 31),
                    date(y - 1, 12, 31),
                    date(y, 1, 29),
                    date(y, 1, 30),
                    date(y, 11, 30),
                ]
            )
        elif roll < 0.08:
            d = date(y - 1, 12, sub.randint(15, 31))  # due in Y from last year, or not
        elif roll < 0.16:
            d = date(y, 12, sub.randint(18, 31))  # due next year, or on Dec 31
        elif roll < 0.35:
            # around holidays and local calendar entries
            anchors = [
                date(y, 1, 27),
                date(y, 4, 30),
                date(y, 9, 26),
                date(y, 9, 29),
                date(y, 5, 30),
                date(y, 2, 12),
                date(y, 6, 17),
            ]
            anchors += [date.fromisoformat(x) - timedelta(days=2) for x in self.calendar["extra_holidays"]]
            anchors += [date.fromisoformat(x) - timedelta(days=1) for x in self.calendar["extra_workdays"]]
            d = sub.choice(anchors)
        else:
            d = _rand_date(sub, y, 1, 360)
        hour = sub.choice([6, 7, 9, 10, 14, 16, 17, 23])
        return _local(d, hour, sub.choice([0, 15, 30, 45]), self.tz)

    def _task(self, lead: str, sub: random.Random, quality: float, outside: bool = False) -> None:
        tid = self._id("T")
        ttype = sub.choice(list(self.task_types))
        assigned = self._assigned(ttype, sub, outside)
        priority = sub.choices(["normal", "important", "urgent", "minor"], [6, 2, 1, 1])[0]
        task: dict[str, Any] = {
            "type": "task",
            "id": tid,
            "title": f"事项{tid}",
            "task_type": ttype,
            "lead_unit": lead,
        }
        co = self._co_units(lead, sub)
        if co:
            task["co_units"] = co
        if priority != "normal" or sub.random() < 0.3:
            task["priority"] = priority
        task["assigned_at"] = _stamp(assigned, sub, self.tz)
        if sub.random() < 0.1 and not outside:
            due = sub.choice(
                [
                    _local(assigned.date() + timedelta(days=sub.randint(1, 20)), 17, 30, self.tz),
                    self.default_as_of,
                    self.as_of_custom if self.as_of_custom > assigned else self.default_as_of,
                    # just after the year ends locally, written in UTC on Dec 31: falls due next year
                    _local(date(self.year + 1, 1, 1), 3, 0, self.tz),
                ]
            )
            if assigned.year < self.year and sub.random() < 0.5:
                due = _local(date(self.year, 1, 1), 2, 0, self.tz)  # Dec 31 in UTC, Jan 1 locally: counts
            if due.hour in (2, 3):
                task["due_at"] = due.astimezone(UTC).isoformat(timespec="seconds")
            task.setdefault("due_at", _stamp(due, sub, self.tz))
        else:
            due = compute_due(self.task_types[ttype]["limit"], assigned, self.work_calendar, self.tz)
        self.task_lines.append(task)
        self._events(tid, assigned, due, sub, quality)
        if sub.random() < 0.18:
            units = [lead, *co]
            who = lead if sub.random() < 0.8 else sub.choice(units)
            when = assigned.date() + timedelta(days=sub.randint(1, 60))
            self._tolerance(who, "task", tid, when, sub)
            if co and sub.random() < 0.3:  # another unit of the task decides on the same target later
                other = sub.choice([u for u in units if u != who])
                self._tolerance(other, "task", tid, when + timedelta(days=sub.choice([0, 2])), sub)

    def _events(
        self, tid: str, assigned: datetime, due: datetime, sub: random.Random, quality: float
    ) -> None:
        events: list[tuple[str, datetime]] = []
        span = due - assigned
        cut = self.as_of_custom

        def ontime() -> datetime:
            return assigned + timedelta(seconds=sub.randint(1, max(1, int(span.total_seconds()))))

        def late(lo: int = 0, hi: int = 12) -> datetime:
            d = due.astimezone(self.tz).date() + timedelta(days=sub.randint(lo, hi))
            at = _local(d, sub.choice([0, 8, 9, 15, 18, 22, 23]), sub.choice([0, 30, 59]), self.tz)
            return at if at > due else due + timedelta(seconds=1)

        scenario = sub.choices(
            [
                "ontime",
                "exact_due",
                "just_late",
                "late",
                "very_late",
                "none",
                "reject_rereport",
                "reject_only",
                "reject_tie",
                "reject_after_cut",
                "reject_after_year",
                "report_after_cut",
                "cancel_before",
                "cancel_after_cut",
                "cancel_after_year",
                "midnight_utc",
                "double_report",
                "double_reject",
                "double_straddle",
                "reject_after_verify",
                "frac_late",
                "report_at_cut",
                "cancel_at_cut",
            ],
            [
                10 * quality + 1,
                2,
                2,
                6 * (1 - quality) + 1,
                1 + 2 * (1 - quality),
                1 + 3 * (1 - quality),
                3,
                1,
                1,
                2,
                1,
                2,
                1,
                1,
                1,
                2,
                1,
                2,
                1,
                1,
                1,
                1,
                1,
            ],
        )[0]
        if quality == 0:
            scenario = sub.choice(["none", "very_late", "report_after_cut"])
        utc_written: set[int] = set()
        frac_written: set[int] = set()
        if sub.random() < 0.5:
            events.append(("accept", assigned))
        if scenario == "ontime":
            events.append(("report", ontime()))
        elif scenario == "exact_due":
            events.append(("report", due))
        elif scenario == "just_late":
            events.append(("report", due + timedelta(seconds=1)))
        elif scenario == "late":
            events.append(("report", late(0, 10)))
        elif scenario == "very_late":
            events.append(("report", late(15, 40)))
        elif scenario == "none":
            if sub.random() < 0.5:
                events.append(("progress", ontime()))
        elif scenario == "reject_rereport":
            r1 = ontime()
            rj = r1 + timedelta(hours=sub.randint(1, 30))
            r2 = rj + timedelta(minutes=10) if sub.random() < 0.5 else late(0, 8)
            events += [("report", r1), ("reject", rj), ("report", max(r2, rj + timedelta(seconds=1)))]
        elif scenario == "reject_only":
            r1 = ontime()
            events += [("report", r1), ("reject", r1 + timedelta(hours=sub.randint(1, 48)))]
        elif scenario == "reject_tie":
            r1 = ontime()
            events += [("report", r1), ("reject", r1)]
            if sub.random() < 0.7:
                events.append(("report", r1 + timedelta(days=sub.randint(0, 6), seconds=1)))
        elif scenario == "reject_after_cut":
            # reported before the custom cutoff, rejected after it (and maybe re-reported after it)
            r1 = min(ontime(), cut - timedelta(hours=1)) if cut - timedelta(hours=1) > assigned else ontime()
            rj = max(cut, r1) + timedelta(hours=sub.randint(1, 200))
            events += [("report", r1), ("reject", rj)]
            if sub.random() < 0.5:
                events.append(("report", rj + timedelta(hours=2)))
        elif scenario == "reject_after_year":
            r1 = ontime()
            rj = max(self.default_as_of, r1) + timedelta(days=sub.randint(1, 20))
            events += [("report", r1), ("reject", rj)]
        elif scenario == "report_after_cut":
            r1 = max(cut, assigned) + timedelta(minutes=sub.randint(1, 3000))
            events.append(("report", r1))
        elif scenario in ("cancel_before", "cancel_after_cut", "cancel_after_year"):
            if sub.random() < 0.5:
                events.append(("report", ontime()))
            last = max([at for _, at in events], default=assigned)
            if scenario == "cancel_before":
                at = last + timedelta(hours=sub.randint(1, 100))
            elif scenario == "cancel_after_cut":
                at = max(last, cut) + timedelta(hours=sub.randint(1, 100))
            else:
                at = max(last, self.default_as_of) + timedelta(days=sub.randint(1, 10))
            events.append(("cancel", at))
        elif scenario == "double_report":
            # two reports, no reject: the latest at or before the cutoff counts
            r1 = ontime()
            events += [("report", r1), ("report", r1 + timedelta(hours=sub.choice([1, 30, 200])))]
        elif scenario == "double_reject":
            # two reports then one reject: it rejects the later one, the first counts again
            r1 = ontime() if sub.random() < 0.5 else late(0, 5)
            r2 = r1 + timedelta(hours=sub.choice([2, 40, 150]))
            events += [
                ("report", r1),
                ("report", r2),
                ("reject", r2 + timedelta(hours=sub.choice([1, 3000]))),
            ]
        elif scenario == "double_straddle":
            # one report before the cutoff, one after it, a reject after both
            r1 = ontime() if cut - timedelta(hours=2) <= assigned else min(ontime(), cut - timedelta(hours=1))
            r2 = max(cut, r1) + timedelta(hours=1)
            events += [("report", r1), ("report", r2), ("reject", r2 + timedelta(hours=5))]
        elif scenario == "reject_after_verify":
            r1 = ontime()
            v = r1 + timedelta(hours=3)
            rj = v + timedelta(hours=sub.choice([1, 100]))
            events += [("report", r1), ("verify", v), ("reject", rj)]
            if sub.random() < 0.5:
                events.append(("report", rj + timedelta(days=sub.randint(0, 9), seconds=1)))
        elif scenario == "frac_late":
            # fractional seconds are written; Kaohe keeps instants to the whole second (the fraction is
            # dropped), so the fraction is put where dropping it changes nothing: one and a half seconds late
            events.append(("report", due + timedelta(milliseconds=1500)))
            frac_written.add(len(events) - 1)
        elif scenario == "report_at_cut" and cut > assigned:
            events.append(("report", cut))  # at the cutoff: counts (at or before as_of)
        elif scenario == "cancel_at_cut" and cut > assigned:
            events.append(("cancel", cut))  # at the cutoff: cancelled at or before as_of
        elif scenario == "midnight_utc":
            # reported at 00:30 local the day after due, written in UTC (the previous UTC date)
            d = due.astimezone(self.tz).date() + timedelta(days=sub.choice([1, 2, 3]))
            events.append(("report", _local(d, 0, 30, self.tz)))
            utc_written.add(len(events) - 1)
        # verify / close after an unrejected last report, sometimes
        kinds = [k for k, _ in events]
        if kinds and kinds[-1] == "report" and sub.random() < 0.5:
            at = events[-1][1] + timedelta(hours=sub.randint(1, 30))
            events.append(("verify", at))
            if sub.random() < 0.6:
                events.append(("close", at + timedelta(minutes=5)))
        kinds = [k for k, _ in events]
        still_reported = kinds.count("report") > kinds.count("reject")
        if kinds and kinds[-1] in ("accept", "reject") and not still_reported and sub.random() < 0.5:
            # a progress report on the open task (does not count as its report)
            events.append(("progress", events[-1][1] + timedelta(hours=1)))
        extended_to = self._extension(events, assigned, due, sub)
        order = sorted(range(len(events)), key=lambda i: events[i][1])  # stable: ties keep the order above
        self._check_events([events[i] for i in order], assigned)
        if len({at for _, at in events}) == len(events) and sub.random() < 0.12:
            sub.shuffle(order)  # recorded out of order: the instants decide (§4)
        for i in order:
            kind, at = events[i]
            stamp = (
                at.astimezone(UTC).isoformat(timespec="seconds")
                if i in utc_written
                else _stamp(at, sub, self.tz)
            )
            if i in frac_written:
                stamp = at.astimezone(self.tz).isoformat(timespec="milliseconds")
            line = {"type": "task_event", "task": tid, "kind": kind, "at": stamp}
            if kind == "extend" and extended_to is not None:
                line["due_at"] = _stamp(extended_to, sub, self.tz)
            self.task_lines.append(line)

    @staticmethod
    def _extension(
        events: list[tuple[str, datetime]], assigned: datetime, due: datetime, sub: random.Random
    ) -> datetime | None:
        """Sometimes an extension (延期, SCORING.md §2) while the task is still open, at or before its due:
        appended to events; the new due instant, or None."""
        span = int((due - assigned).total_seconds())
        if span <= 0 or sub.random() > 0.15:
            return None
        at = assigned + timedelta(seconds=sub.randint(0, span))
        before = [k for k, when in events if when <= at]
        if before.count("report") > before.count("reject") or "close" in before or "cancel" in before:
            return None
        events.append(("extend", at))
        return due + timedelta(hours=sub.choice([1, 5, 30, 200, 2000]))

    @staticmethod
    def _check_events(events: list[tuple[str, datetime]], assigned: datetime) -> None:
        unrejected = 0
        for i, (kind, at) in enumerate(events):
            assert at >= assigned, (kind, at, assigned)
            if kind in ("close", "cancel"):
                assert i == len(events) - 1, events
            if kind == "progress":
                assert unrejected == 0, events  # progress only on an open task (the import's rule)
            if kind == "report":
                unrejected += 1
            if kind in ("verify", "reject"):
                assert unrejected > 0, events
                if kind == "reject":
                    unrejected -= 1

    def _tolerance(self, unit: str, target_type: str, target: str, when: date, sub: random.Random) -> None:
        decisions = [sub.choice(["exempt", "mitigate"])]
        dates = [when]
        if sub.random() < 0.3:  # a second decision on the same target: the latest one counts
            decisions.append(sub.choice(["exempt", "mitigate"]))
            dates.append(
                when + timedelta(days=sub.choice([3, 10, -5, 0]))
            )  # later, earlier, or the same date
        for decision, d in zip(decisions, dates, strict=True):
            self.tolerance_lines.append(
                {
                    "type": "tolerance",
                    "id": self._id("R"),
                    "unit": unit,
                    "target_type": target_type,
                    "target": target,
                    "decision": decision,
                    "date": d.isoformat(),
                    "reason": "容错",
                }
            )

    def _records(self, uid: str, sub: random.Random, quality: float) -> None:
        y = self.year
        for _ in range(
            sub.choices([0, 1, 2, 3, 5], [3, 3, 2, 1, 1])[0] if quality < 1 else sub.choice([0, 0, 1])
        ):
            eid = self._id("E")
            d = sub.choice([_rand_date(sub, y)] * 5 + [date(y - 1, 12, 30), date(y + 1, 1, 3)])
            self.error_lines.append(
                {
                    "type": "error_report",
                    "id": eid,
                    "unit": uid,
                    "date": d.isoformat(),
                    "category": sub.choice(["meeting", "drafting", "implementation", "information", "other"]),
                    "severity": sub.choice(["general", "serious", "grave"]),
                    "description": "差错",
                }
            )
            roll = sub.random()
            if roll < 0.25:
                outcomes = sub.choice([[False], [True], [False, True], [True, False]])
                for j, upheld in enumerate(outcomes):
                    self.appeal_lines.append(
                        {
                            "type": "appeal",
                            "id": self._id("AP"),
                            "error_report": eid,
                            "date": (d + timedelta(days=5 + 10 * j)).isoformat(),
                            "upheld": upheld,
                            "reason": "申诉",
                        }
                    )
            elif roll < 0.45:
                self._tolerance(uid, "error_report", eid, d + timedelta(days=sub.randint(1, 30)), sub)
        for _ in range(sub.choice([0, 0, 1, 2, 3])):
            d = sub.choice([_rand_date(sub, y)] * 4 + [date(y - 1, 11, 1), date(y + 1, 1, 2)])
            self.incentive_lines.append(
                {
                    "type": "incentive",
                    "id": self._id("I"),
                    "unit": uid,
                    "date": d.isoformat(),
                    "level": sub.choice(list(self.levels)),
                    "reason": "表彰",
                }
            )
        for _ in range(sub.choices([0, 1, 2, 4], [6, 2, 1, 1])[0]):
            d = sub.choice([_rand_date(sub, y)] * 4 + [date(y - 1, 12, 31), date(y + 1, 1, 1)])
            kind = sub.choices(list(self.kinds), [4, 3, 2, 1, 1])[0]
            self.account_lines.append(
                {
                    "type": "accountability",
                    "id": self._id("A"),
                    "unit": uid,
                    "date": d.isoformat(),
                    "kind": kind,
                    "reason": "问责",
                }
            )

    def _periods(self, sub: random.Random, n: int, metric: dict[str, Any]) -> list[str]:
        y = self.year
        pool = [
            str(y),
            f"{y}-12",
            f"{y}-12-31",
            f"{y}-06",
            f"{y}-06-30",
            f"{y}-01",
            f"{y}-01-01",
            f"{y}-03",
            f"{y}-09",
            f"{y}-11-15",
            f"{y}-07-01",
        ]
        if metric.get("aggregate") == "last" and sub.random() < 0.7:
            # ties by end ({Y, Y-12, Y-12-31}) or by start ({Y, Y-01, Y-01-01})
            group = sub.choice(
                [
                    [str(y), f"{y}-12", f"{y}-12-31"],
                    [str(y), f"{y}-01", f"{y}-01-01"],
                    [f"{y}-06", f"{y}-06-30"],
                    [f"{y}-12", f"{y}-12-31"],
                ]
            )
            extra = [p for p in pool if p not in group]
            return sub.sample(group, min(n, len(group))) + sub.sample(extra, max(0, n - len(group)))
        return sub.sample(pool, n)

    def _readings(self, uid: str, sub: random.Random, quality: float) -> None:
        y = self.year
        for m in self.metrics:
            roll = sub.random()
            if roll < 0.1 * (1.5 - quality) or quality == 0:
                continue  # missing
            applies = m.get("applies_to") or []
            if applies and self.category[uid] not in applies and uid not in applies and sub.random() < 0.5:
                continue  # readings for a metric that does not apply to the unit (ignored) — sometimes
            n = sub.randint(1, 4)
            periods = self._periods(sub, n, m)
            if sub.random() < 0.15:
                periods.append(sub.choice([f"{y - 1}-12", str(y + 1), f"{y - 1}-12-31"]))  # outside the year
            if sub.random() < 0.05:
                periods = [f"{y - 1}-06"]  # only outside the year → missing
            target = float(m["target"])
            if m["id"] == "slack":
                vals = [0.1, 0.2] if sub.random() < 0.7 else [0.2, 0.2]
                for p, v in zip(sub.sample([*periods, f"{y}-02", f"{y}-04"], 2), vals, strict=True):
                    self.reading_lines.append(
                        {"type": "metric_reading", "unit": uid, "metric": "slack", "period": p, "value": v}
                    )
                continue
            zero = m["kind"] == "ratio" and sub.random() < 0.12
            for p in periods:
                rec: dict[str, Any] = {"type": "metric_reading", "unit": uid, "metric": m["id"], "period": p}
                if m["kind"] == "ratio":
                    if zero:
                        rec["numerator"], rec["denominator"] = 0, 0
                    else:
                        den = (
                            sub.choice([0, 4, 10, 20, 25]) if sub.random() < 0.3 else sub.choice([10, 20, 40])
                        )
                        good = sub.random() < quality
                        share = target if good else sub.uniform(0, 1)
                        if m["direction"] == "max" and good:
                            share = sub.choice([0.0, target / 2, target])
                        rec["numerator"] = round(den * min(1.0, share) * 2) / 2 if den else 0
                        rec["denominator"] = den
                else:
                    agg = m["aggregate"]
                    scale = n if agg == "sum" else 1
                    good = sub.random() < quality
                    if m["direction"] == "min":
                        v = target / scale * (1 if good else sub.uniform(0.2, 1.1))
                    else:
                        v = target / scale * (sub.choice([0.5, 1.0]) if good else sub.uniform(0.8, 4))
                    if sub.random() < 0.05:
                        v = 0.0  # zero (negatives are refused by the import)
                    rec["value"] = round(v, 1) if sub.random() < 0.6 else round(v)
                self.reading_lines.append(rec)

    def build(self) -> Case:
        toml = self.scheme()
        self.ledger()
        as_ofs: list[str | None] = [None, self.as_of_custom.isoformat(timespec="seconds")]
        return Case(
            self.seed,
            self.year,
            toml,
            [json.dumps(r, ensure_ascii=False) for r in self.lines],
            as_ofs,
            self.notes,
            self.splits,
        )


def generate(seed: int, year: int | None = None) -> Case:
    return _Gen(seed, year).build()


__all__ = ["Case", "add_months", "generate"]


if __name__ == "__main__":
    case = generate(int(sys.argv[1]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
    scheme_path, ledger_path = case.write(Path(sys.argv[2]))
    print(scheme_path, ledger_path, case.year, case.as_ofs, case.notes)


# ------------------------------------------------------------------ a hand-made case

EDGE_SCHEME = """\
[scheme]
id = "edges-2025"
name = "边界用例"
year = 2025

[calendar]
extra_holidays = []
extra_workdays = []

[task_types.letter]
name = "督办函"
limit = { amount = 3, unit = "working_days" }

[timeliness]
points = 40
late_penalty_per_working_day = 0.1
yellow_threshold = 0.8
co_unit_weight = 0.5

[timeliness.priority_weights]
normal = 1.0

[[metrics]]
id = "days"
name = "天数"
kind = "value"
aggregate = "sum"
direction = "min"
rule = "threshold"
target = 10
points = 10
applies_to = ["department"]

[errors]
cap = 10
mitigation_factor = 0.3

[errors.deductions]
general = 0.35
serious = 0.45
grave = 0.55

[incentives]
cap = 5

[incentives.points]
national = 0.015
provincial = 1
municipal = 0.5
county = 0.005

[accountability]
cap = 15

[accountability.kinds.tiny]
deduction = 0.1

[accountability.kinds.interview]
deduction = 1.0

[accountability.kinds.disciplinary]
deduction = 5.0
veto = true

[grades]
excellent_min = 99.9
excellent_quota = 0.5
good_min = 90
pass_min = 60

[runs]
appeal_window_working_days = 5
"""


def edge_case() -> Case:
    """Totals on a rounding boundary (100 − 0.35 × 0.3 = 99.895 → 99.90 half away from zero),
    ranks and grades on rounded totals, ties, vetoed units ranked last, a total clamped to 0,
    and reports at, half a second after and one second after due_at."""
    recs: list[dict[str, Any]] = []

    def unit(uid: str, cat: str) -> None:
        recs.append({"type": "unit", "id": uid, "name": uid, "category": cat})

    for i in range(1, 9):
        unit(f"r{i}", "rounding")  # nothing assessed: base 100
    for i in range(1, 7):
        unit(f"d{i}", "department")
    unit("z1", "township")
    unit("z2", "township")
    for i in range(1, 4):
        unit(f"f{i}", "timing")  # one task each, due Thu 2025-03-06 23:59:59
    n = 0

    def err(uid: str, severity: str, mitigate: bool) -> None:
        nonlocal n
        n += 1
        recs.append(
            {
                "type": "error_report",
                "id": f"E{n}",
                "unit": uid,
                "date": "2025-05-06",
                "category": "other",
                "severity": severity,
                "description": "差错",
            }
        )
        if mitigate:
            recs.append(
                {
                    "type": "tolerance",
                    "id": f"R{n}",
                    "unit": uid,
                    "target_type": "error_report",
                    "target": f"E{n}",
                    "decision": "mitigate",
                    "date": "2025-05-20",
                    "reason": "容错",
                }
            )

    def acc(uid: str, kind: str) -> None:
        nonlocal n
        n += 1
        recs.append(
            {
                "type": "accountability",
                "id": f"A{n}",
                "unit": uid,
                "date": "2025-06-01",
                "kind": kind,
                "reason": "问责",
            }
        )

    def inc(uid: str, level: str) -> None:
        nonlocal n
        n += 1
        recs.append(
            {
                "type": "incentive",
                "id": f"I{n}",
                "unit": uid,
                "date": "2025-07-01",
                "level": level,
                "reason": "表彰",
            }
        )

    def task(uid: str, report: str | None) -> None:
        nonlocal n
        n += 1
        recs.append(
            {
                "type": "task",
                "id": f"T{n}",
                "title": "督办",
                "task_type": "letter",
                "lead_unit": uid,
                "assigned_at": "2025-03-03T09:00:00+08:00",
            }
        )  # due Thu 2025-03-06 23:59:59
        if report:
            recs.append({"type": "task_event", "task": f"T{n}", "kind": "report", "at": report})

    err("r1", "general", True)  # 99.895 → 99.90
    err("r2", "serious", True)  # 99.865 → 99.87
    err("r3", "grave", True)  # 99.835 → 99.84
    acc("r4", "tiny")  # 99.9  → 99.90 (ties r1)
    inc("r5", "national")  # 100.015 → 100.02
    inc("r6", "county")  # 100.005 − 0.105 = 99.9 → 99.90
    err("r6", "general", True)
    err("r8", "general", False)  # 99.55
    acc("r8", "tiny")
    on_time, late = "2025-03-05T10:00:00+08:00", "2025-03-07T10:00:00+08:00"
    for uid, report, reading, veto in (
        ("d1", on_time, 12, False),
        ("d2", on_time, 12, True),
        ("d3", on_time, 12, True),
        ("d4", late, 10, False),
        ("d5", late, 10, False),
        ("d6", on_time, None, False),
    ):
        task(uid, report)
        if reading is not None:
            recs.append(
                {"type": "metric_reading", "unit": uid, "metric": "days", "period": "2025", "value": reading}
            )
        if veto:
            acc(uid, "disciplinary")
    task("f1", "2025-03-06T23:59:59+08:00")  # at due_at: on time
    task("f2", "2025-03-07T00:00:00.500+08:00")  # a second and a half late: L = max(1, 0) = 1 → 0.9 → 90
    task("f3", "2025-03-07T00:00:00+08:00")  # one second late, next working day: L = 1 → 90
    task("z1", None)
    acc("z1", "interview")
    task("z2", None)
    acc("z2", "disciplinary")
    order = {
        "unit": 0,
        "task": 1,
        "task_event": 2,
        "error_report": 3,
        "tolerance": 4,
        "metric_reading": 5,
        "incentive": 6,
        "accountability": 7,
    }
    recs.sort(key=lambda r: order[r["type"]])
    return Case(
        0,
        2025,
        EDGE_SCHEME,
        [json.dumps(r, ensure_ascii=False) for r in recs],
        [None],
        ["hand-made edge case"],
        name="hand-made case",
    )
