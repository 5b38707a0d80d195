"""Progress deadlines (`progress_every`): the next report a task owes, and the one it missed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from services.common import calendar as cal
from services.common.calendar import WorkCalendar
from services.common.limits import Limit
from services.common.timeutil import from_epoch
from services.notify.planner import missed_progress_deadline

# The history entries that count as a progress report towards the next deadline.
REPORTING_KINDS = frozenset({"progress", "report"})


@dataclass(frozen=True)
class ProgressDue:
    """The first progress deadline after the last report, and whether it has passed (a lapse)."""

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
    """The task's next progress deadline after its last progress or report (or its assignment) as of now."""
    deadlines = cal.progress_deadlines(
        assigned_at=from_epoch(assigned_at, tz),
        due_at=from_epoch(due_at, tz),
        every=every,
        calendar=calendar,
        tz=tz,
    )
    last = from_epoch(max(reported, default=assigned_at), tz)
    upcoming = [d for d in deadlines if d > last]
    return ProgressDue(
        next_due=upcoming[0] if upcoming else None,
        overdue_since=missed_progress_deadline(deadlines=deadlines, last_report_at=last, now=now),
    )
