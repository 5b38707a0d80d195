"""A deterministic sample county: a year of ledger records (FORMATS.md JSON Lines) generated from a scheme."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from services.cli import sample_people
from services.cli.sample_data import (
    ASSIGN_HOURS,
    CANCEL_NOTES,
    DEFAULT_COUNT,
    DEPARTMENTS,
    EMERGENCY_DEPARTMENTS,
    HOTLINE,
    INCIDENTS,
    OFFICE_HOURS,
    PROFILES,
    PROGRESS_NOTES,
    REJECT_NOTES,
    TOPICS,
    TOWNSHIPS,
    Profile,
)
from services.cli.sample_records import GeneratedTask, Record, RecordGenerator, iso, weighted
from services.common.calendar import due_at, progress_deadlines
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


class _Generator(RecordGenerator):
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

    def _short(self, task_type: TaskType) -> bool:
        return task_type.limit.unit in ("minutes", "hours")

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

    # --- events -----------------------------------------------------------------------------

    def _report_on_time(self, task: GeneratedTask, after: datetime) -> datetime:
        if self._short(task.task_type):
            span = (task.due - task.assigned) / timedelta(minutes=1)
            return max(after, task.assigned) + timedelta(
                minutes=max(1, int(span * self.rng.uniform(0.2, 0.95)))
            )
        # Long items with periodic reports finish near their end; the rest anywhere in their time.
        lo = 0.75 if task.task_type.progress_every is not None else 0.15
        moment = after + (task.due - after) * self.rng.uniform(lo, 0.98)
        d = moment.date()
        while not self.calendar.is_working_day(d) and d > after.date():
            d -= timedelta(days=1)
        at = self._office_time(d)
        if at <= after:
            at = after + timedelta(minutes=self.rng.randrange(20, 180))
        return min(at, task.due - timedelta(minutes=self.rng.randrange(1, 60)))

    def _report_late(self, task: GeneratedTask) -> datetime:
        if self._short(task.task_type):
            return task.due + timedelta(minutes=self.rng.randrange(1, 120))
        days = min(10, 1 + int(self.rng.expovariate(0.45)))
        return self._office_time(self._working_day_after(task.due.date(), days))

    def _later(self, at: datetime, *, short: bool) -> datetime:
        """The office's next step: within office hours for emergencies, else one to three working days."""
        if short:
            soon = at + timedelta(minutes=self.rng.randrange(10, 180))
            minutes = soon.hour * 60 + soon.minute
            if (
                soon.date() == at.date()
                and self.calendar.is_working_day(soon.date())
                and OFFICE_HOURS[0] <= minutes < OFFICE_HOURS[1]
            ):
                return soon
            return self._office_time(self._working_day_after(at.date(), 1))
        return self._office_time(self._working_day_after(at.date(), self.rng.choice((1, 1, 2, 3))))

    def _events(self, task: GeneratedTask) -> list[tuple[str, datetime, str | None]]:
        rng = self.rng
        short = self._short(task.task_type)
        events: list[tuple[str, datetime, str | None]] = []
        last = task.assigned
        if not short and rng.random() < 0.75:
            last = task.assigned + timedelta(minutes=rng.randrange(5, 240))
            events.append(("accept", last, None))
        fate = rng.random()
        if fate < 0.03:
            cancel_at = last + timedelta(hours=rng.randrange(1, 72))
            return self._keep([*events, ("cancel", cancel_at, rng.choice(CANCEL_NOTES))])
        if fate < 0.07:
            report: datetime | None = None  # never reported: open, and overdue once due
        elif fate < 0.20:
            report = self._report_late(task)
        else:
            report = self._report_on_time(task, last)
        events.extend(self._progress(task, last, report))
        if report is None:
            return self._keep(events)
        if rng.random() < 0.08:
            events.append(("report", report, None))
            reject = self._later(report, short=short)
            events.append(("reject", reject, rng.choice(REJECT_NOTES)))
            report = (
                reject + timedelta(minutes=rng.randrange(10, 90))
                if short
                else self._later(reject, short=False)
            )
        events.append(("report", report, None))
        if rng.random() < 0.65:
            verify = self._later(report, short=short)
            events.append(("verify", verify, "经核查已落实"))
            if rng.random() < 0.8:
                events.append(("close", verify + timedelta(minutes=rng.randrange(5, 60)), None))
        return self._keep(events)

    def _progress(
        self, task: GeneratedTask, after: datetime, report: datetime | None
    ) -> list[tuple[str, datetime, str | None]]:
        every = task.task_type.progress_every
        end = report or self.until_end
        out: list[tuple[str, datetime, str | None]] = []
        if every is not None:
            for deadline in progress_deadlines(
                assigned_at=task.assigned, due_at=task.due, every=every, calendar=self.calendar, tz=self.tz
            ):
                if self.rng.random() < 0.1:
                    continue  # a missed periodic report
                at = self._office_time(deadline.date() - timedelta(days=self.rng.randrange(0, 4)))
                if after < at < end:
                    out.append(("progress", at, self.rng.choice(PROGRESS_NOTES)))
                    after = at
        elif task.task_type.limit.unit == "months" and self.rng.random() < 0.4:
            at = after + (min(end, task.due) - after) / 2
            if after < at < end:
                out.append(("progress", at.replace(second=0, microsecond=0), self.rng.choice(PROGRESS_NOTES)))
        return out

    def _keep(self, events: list[tuple[str, datetime, str | None]]) -> list[tuple[str, datetime, str | None]]:
        """Events strictly in order (a minute apart at least) and none after the cutoff."""
        out: list[tuple[str, datetime, str | None]] = []
        prev: datetime | None = None
        for kind, at, note in events:
            if prev is not None and at <= prev:
                at = prev + timedelta(minutes=1)
            if at > self.until_end:
                break
            out.append((kind, at, note))
            prev = at
        return out
