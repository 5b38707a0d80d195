"""A sample task's events: accept, progress, report (on time or late), reject, verify, close, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.cli.sample_data import (
    CANCEL_NOTES,
    OFFICE_HOURS,
    PROGRESS_NOTES,
    REJECT_NOTES,
)
from services.cli.sample_records import RecordGenerator
from services.cli.sample_year import GeneratedTask
from services.common.calendar import progress_deadlines
from services.common.scheme import TaskType


class TaskEvents(RecordGenerator):
    """What happens to a generated task after it is assigned, drawn in a fixed order."""

    def _short(self, task_type: TaskType) -> bool:
        return task_type.limit.unit in ("minutes", "hours")

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
