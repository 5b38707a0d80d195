"""Progress deadlines (`progress_every`): the next report a task owes, and the one it missed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from services.common import calendar as cal
from services.common.calendar import WorkCalendar
from services.common.limits import Limit
from services.common.timeutil import from_epoch
from services.notify.planner import missed_progress_deadline, owed_progress_deadline

# The history entries that count as a progress report towards the next deadline.
REPORTING_KINDS = frozenset({"progress", "report"})


@dataclass(frozen=True)
class ProgressDue:
    """The progress deadline owed next, and since when it is missed (a lapse) if it has passed."""

    next_due: datetime | None
    overdue_since: datetime | None


def progress_due(
    *,
    assigned_at: int,
    due_at: int,
    every: Limit,
    reported: Iterable[int],
    now: datetime,
    calendar: WorkCalendar,
    tz: tzinfo,
) -> ProgressDue:
    """The progress deadline the task owes as of now (a report meets its period's), and a lapse if passed."""
    deadlines = cal.progress_deadlines(
        assigned_at=from_epoch(assigned_at, tz),
        due_at=from_epoch(due_at, tz),
        every=every,
        calendar=calendar,
        tz=tz,
    )
    latest = max(reported, default=None)
    last = from_epoch(latest, tz) if latest is not None else None
    return ProgressDue(
        next_due=owed_progress_deadline(deadlines=deadlines, last_report_at=last),
        overdue_since=missed_progress_deadline(deadlines=deadlines, last_report_at=last, now=now),
    )
