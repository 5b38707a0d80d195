"""A task's stored history as the domain reads it, and what a replay of it writes back to the task."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from services.common import calendar as cal
from services.common.calendar import WorkCalendar
from services.common.scheme import Scheme
from services.common.timeutil import from_epoch, to_epoch
from services.common.vocabulary import TASK_NOTE_KINDS
from services.tasks import ledger
from services.tasks.domain import Event, Kind, Replay
from services.tasks.storage import repository as repo


def domain_events(events: list[repo.EventRow], *, tz: tzinfo) -> list[Event]:
    """Stored event rows as the domain's events; notes such as a reminder (催办) are no step of the loop."""
    return [
        Event(
            seq=e.seq,
            kind=Kind(e.kind),
            at=from_epoch(e.at, tz),
            by=e.by,
            note=e.note,
            due_at=from_epoch(e.due_at, tz) if e.due_at is not None else None,
        )
        for e in events
        if e.kind not in TASK_NOTE_KINDS
    ]


def derived(result: Replay) -> dict[str, Any]:
    """The task columns a replay decides: its state, the instants of its report, cancel and close, and
    once it has been extended (延期) its due instant, no longer a computed one (SCORING.md §2)."""

    def epoch(moment: datetime | None) -> int | None:
        return to_epoch(moment) if moment else None

    extension = {"due_at": epoch(result.extended_to), "due_given": True} if result.extended_to else {}
    return {
        "state": result.state.value,
        "reported_at": epoch(result.reported_at),
        "cancelled_at": epoch(result.cancelled_at),
        "closed_at": epoch(result.closed_at),
        "verified_at": epoch(result.last_verified_at),
        **extension,
    }


def own_due(
    record: str, *, task_type: str, assigned_at: int | None, scheme: Scheme, calendar: WorkCalendar
) -> int | None:
    """A stored task's own due instant, before any extension: as its record gave it, else computed from its
    type's limit under scheme (a computed one is derived wherever it is used, SCORING.md §2)."""
    given = json.loads(record).get("due_at")
    if given is not None:
        return int(given)
    spec = scheme.task_types.get(task_type)
    if assigned_at is None or spec is None:
        return None
    start = from_epoch(assigned_at, scheme.tz)
    return to_epoch(cal.due_at(assigned_at=start, limit=spec.limit, calendar=calendar, tz=scheme.tz))


def due_instant(record: ledger.TaskRecord, *, scheme: Scheme, calendar: WorkCalendar, tz: tzinfo) -> int:
    """The task's due instant: as given, else its type's time limit from its assignment (SCORING.md §2)."""
    if record.due_at is not None:
        return to_epoch(record.due_at)
    spec = scheme.task_types[record.task_type]
    return to_epoch(cal.due_at(assigned_at=record.assigned_at, limit=spec.limit, calendar=calendar, tz=tz))
