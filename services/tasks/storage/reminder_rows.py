"""Data functions of the reminders told (reminder_occurrences): they never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from services.common.db import chunks
from services.tasks.storage.tables import reminder_occurrences


@dataclass(frozen=True)
class ReminderRow:
    """One time a reminder told a channel of a (task, event, unit); instants in epoch seconds."""

    task_id: str
    event: str
    unit_id: str
    channel: str
    occurrence: int
    sent_at: int
    deadline_at: int | None


def reminders_of(conn: Connection, task_ids: Sequence[str]) -> list[ReminderRow]:
    """Every reminder told of these tasks, oldest first."""
    c = reminder_occurrences.c
    out: list[ReminderRow] = []
    for part in chunks(sorted(set(task_ids))):
        query = select(
            c.task_id, c.event, c.unit_id, c.channel, c.occurrence, c.sent_at, c.deadline_at
        ).where(c.task_id.in_(part))
        out.extend(ReminderRow(*row) for row in conn.execute(query))
    return sorted(out, key=lambda r: (r.task_id, r.event, r.unit_id, r.sent_at, r.occurrence, r.channel))


def add_reminders(conn: Connection, rows: Iterable[ReminderRow]) -> None:
    """Records reminders told; one already recorded (same task, event, unit, channel, occurrence) stays."""
    fresh = {(r.task_id, r.event, r.unit_id, r.channel, r.occurrence): r for r in rows}
    if not fresh:
        return
    known = {
        (r.task_id, r.event, r.unit_id, r.channel, r.occurrence)
        for r in reminders_of(conn, [key[0] for key in fresh])
    }
    values = [
        {
            "task_id": r.task_id,
            "event": r.event,
            "unit_id": r.unit_id,
            "channel": r.channel,
            "occurrence": r.occurrence,
            "sent_at": r.sent_at,
            "deadline_at": r.deadline_at,
        }
        for key, r in sorted(fresh.items())
        if key not in known
    ]
    if values:
        conn.execute(reminder_occurrences.insert(), values)
