"""A deterministic sample county: a year of ledger records (FORMATS.md JSON Lines) generated from a scheme."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from services.cli import sample_people
from services.cli.sample_data import (
    ASSIGN_HOURS,
    DEFAULT_COUNT,
    DEPARTMENTS,
    EMERGENCY_DEPARTMENTS,
    HOTLINE,
    INCIDENTS,
    PROFILES,
    TOPICS,
    TOWNSHIPS,
    Profile,
)
from services.cli.sample_events import TaskEvents
from services.cli.sample_year import GeneratedTask, Record, iso, weighted
from services.common.calendar import due_at
from services.common.scheme import TaskType, load_scheme

__all__ = ["DEPARTMENTS", "TOWNSHIPS", "sample_county", "write_jsonl"]


def sample_county(
    *, scheme_text: str, year: int, until: date | None = None, seed: int = 20261
) -> list[Record]:
    """Ledger records of a sample county of ~40 units for a year, assigned up to until (default Dec 31)."""
    scheme = load_scheme(scheme_text, source="sample scheme")
    return _Generator(
        scheme=scheme, year=year, until=until or date(year, 12, 31), rng=random.Random(seed)
    ).run()


def served_until(*, tz: tzinfo, year: int, today: date | None = None) -> date | None:
    """The last day the sample assigns tasks on: today in the scheme's zone within its year, else Dec 31.

    `kaohe serve --sample` and `kaohe sample` both cut the county here, so on one day they give one ledger.
    """
    today = today or datetime.now(tz).date()
    return min(today, date(year, 12, 31)) if today.year >= year else None


def write_jsonl(records: Iterable[Record], path: str | os.PathLike[str]) -> None:
    """Write records as UTF-8 JSON Lines, one compact object per line."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")


class _Generator(TaskEvents):
    """The whole ledger: units, tasks with their events, then the other records."""

    # --- the whole ledger -------------------------------------------------------------------

    def run(self) -> list[Record]:
        out: list[Record] = [{"type": "unit", "id": u, "name": n, "category": c} for u, n, c in self.units]
        out += sample_people.village_units({u for u, _, _ in self.units}, self.names)
        people = sample_people.persons(out)
        out += people
        if not self.days:
            return out
        tasks = self._tasks()
        sample_people.name_people([t.record for t in tasks], people)
        for task in tasks:
            out.append(task.record)
            out.extend(
                {"type": "task_event", "task": task.record["id"], "kind": kind, "at": iso(at)}
                | ({"note": note} if note else {})
                for kind, at, note in task.events
            )
        out += sample_people.parts(
            scheme=self.scheme,
            calendar=self.calendar,
            tz=self.tz,
            year=self.year,
            until=self.last_day,
            people=people,
        )
        errors = self._error_reports()
        appeals, appealed = self._appeals(errors)
        out.extend(errors)
        out.extend(appeals)
        out.extend(self._readings())
        out.extend(self._incentives())
        out.extend(self._tolerances(tasks, errors, appealed))
        accountability = self._accountability()
        veto = {k for k, v in self.scheme.accountability.kinds.items() if v.veto}
        sample_people.name_accountability(accountability, people, veto=veto)
        out.extend(accountability)
        out.extend(self._accountability_appeals(accountability, first=len(appeals) + 1))
        out.extend(self._targets())
        return out

    # --- tasks ------------------------------------------------------------------------------

    def _tasks(self) -> list[GeneratedTask]:
        share = len(self.days) / (date(self.year + 1, 1, 1) - self.first_day).days
        drafts: list[GeneratedTask] = []
        for type_id, task_type in self.scheme.task_types.items():
            if type_id == "major_item":
                drafts.extend(self._major_items(task_type))
                continue
            profile = PROFILES.get(type_id, Profile(DEFAULT_COUNT, "any", task_type.name, ()))
            for _ in range(max(1, round(profile.count * share))):
                drafts.append(self._task(task_type, profile))
        drafts.sort(key=lambda t: t.assigned)  # stable: ties keep generation order
        for n, task in enumerate(drafts, start=1):
            task.record["id"] = f"T{self.year}-{n:04d}"
            task.events = self._events(task)
        return drafts

    def _lead(self, pool: str) -> str:
        if pool == "department":
            return self.rng.choice(self.departments)
        if pool == "emergency":
            return self.rng.choice(self.townships + self.townships + list(EMERGENCY_DEPARTMENTS))
        return self.rng.choice(self.departments + self.townships)

    def _priority(self, *, emergency: bool) -> str:
        weights = (
            (("urgent", 70), ("important", 25), ("normal", 5))
            if emergency
            else (("normal", 70), ("important", 22), ("urgent", 8))
        )
        return weighted(self.rng, weights, self.scheme.timeliness.priority_weights) or "normal"

    def _title(self, task_type: TaskType, profile: Profile, lead: str) -> str:
        template = self.rng.choice(profile.titles) if profile.titles else f"{task_type.name}：{{topic}}"
        return template.format(
            topic=self.rng.choice(TOPICS),
            incident=self.rng.choice(INCIDENTS),
            hotline=self.rng.choice(HOTLINE),
            place=self.names[lead] + "辖区" if lead in self.townships else "",
        )

    def _task(self, task_type: TaskType, profile: Profile) -> GeneratedTask:
        short = self._short(task_type)
        if short:
            # Emergencies and urgent papers arrive at any hour of any day, mostly in the daytime.
            d = self._random_day(working=False)
            lo, hi = (7 * 60, 21 * 60) if self.rng.random() < 0.8 else (0, 24 * 60)
            assigned = self._at(d or self.first_day, self.rng.randrange(lo, hi))
        else:
            d = self._random_day(working=True) or self.first_day
            assigned = self._at(d, self.rng.randrange(*ASSIGN_HOURS, 5))
        lead = self._lead(profile.pool)
        co_units: list[str] = []
        if not short and self.rng.random() < 0.2:
            others = [u for u in self.departments + self.townships if u != lead]
            co_units = self.rng.sample(others, self.rng.choice((1, 1, 2)))
        record: Record = {
            "type": "task",
            "id": "",
            "title": self._title(task_type, profile, lead),
            "task_type": task_type.id,
            "lead_unit": lead,
        }
        if co_units:
            record["co_units"] = co_units
        record["priority"] = self._priority(emergency=profile.pool == "emergency")
        record["assigned_at"] = iso(assigned)
        record["source"] = profile.source
        due = due_at(assigned_at=assigned, limit=task_type.limit, calendar=self.calendar, tz=self.tz)
        return GeneratedTask(record=record, task_type=task_type, lead=lead, assigned=assigned, due=due)

    def _major_items(self, task_type: TaskType) -> list[GeneratedTask]:
        """One annual major item per unit, set in the first quarter and due at the year's end (海阳 18)."""
        out: list[GeneratedTask] = []
        q1_end = min(date(self.year, 3, 31), self.last_day)
        due = datetime.combine(date(self.year, 12, 31), time(23, 59, 59), tzinfo=self.tz)
        for unit, _, _ in self.units:
            d = self._random_day(working=True, end=q1_end)
            if d is None:
                return out
            assigned = self._at(d, self.rng.randrange(*ASSIGN_HOURS, 5))
            record: Record = {
                "type": "task",
                "id": "",
                "title": f"年度重大事项：{self.rng.choice(TOPICS)}",
                "task_type": task_type.id,
                "lead_unit": unit,
                "priority": "important"
                if "important" in self.scheme.timeliness.priority_weights
                else "normal",
                "assigned_at": iso(assigned),
                "due_at": iso(due),
                "source": "年度重大事项清单",
            }
            out.append(
                GeneratedTask(record=record, task_type=task_type, lead=unit, assigned=assigned, due=due)
            )
        return out
