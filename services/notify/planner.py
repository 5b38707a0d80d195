"""Which reminders to send: once per (task, event, unit), to every channel that asked for it."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.notify.config import EVENTS, Channel

# (task id, event, unit id): the identity of one announcement, kept across restarts.
Key = tuple[str, str, str]


@dataclass(frozen=True)
class TaskFact:
    """An open task that is yellow, red, or has missed a progress deadline, as of one check."""

    task: str
    title: str
    lead_unit: str
    co_units: tuple[str, ...]
    event: str
    due_at: datetime
    assigned_at: datetime
    progress_due_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}, not {self.event!r}")
        if (self.event == "progress_due") != (self.progress_due_at is not None):
            raise ValueError("progress_due_at is given exactly when the event is progress_due")


@dataclass(frozen=True)
class Delivery:
    """One reminder to POST: the fact, the unit it is addressed to, and the channel (by config index)."""

    fact: TaskFact
    unit: str
    channel_index: int
    channel: Channel

    @property
    def key(self) -> Key:
        """The (task, event, unit) this delivery announces."""
        return (self.fact.task, self.fact.event, self.unit)

    @property
    def is_lead(self) -> bool:
        """Whether the unit leads the task (otherwise it is a co-unit)."""
        return self.unit == self.fact.lead_unit


def facts_for_task(
    *,
    task: str,
    title: str,
    lead_unit: str,
    co_units: Sequence[str],
    assigned_at: datetime,
    due_at: datetime,
    colour: str,
    missed_progress_at: datetime | None,
) -> list[TaskFact]:
    """The facts of one open task: its colour when yellow or red, and its missed progress deadline if any."""
    facts: list[TaskFact] = []
    events = [colour] if colour in ("yellow", "red") else []
    if missed_progress_at is not None:
        events.append("progress_due")
    for event in events:
        facts.append(
            TaskFact(
                task=task,
                title=title,
                lead_unit=lead_unit,
                co_units=tuple(co_units),
                event=event,
                due_at=due_at,
                assigned_at=assigned_at,
                progress_due_at=missed_progress_at if event == "progress_due" else None,
            )
        )
    return facts


def owed_progress_deadline(
    *, deadlines: Sequence[datetime], last_report_at: datetime | None
) -> datetime | None:
    """The progress deadline the task owes a report for next (None: none left).

    A report counts for the period it falls in (after the deadline before, at or before its own), so
    a report a few days ahead of a deadline meets it; without any report the first deadline is owed.
    """
    ordered = sorted(deadlines)
    if last_report_at is None:
        return ordered[0] if ordered else None
    met = next((i for i, deadline in enumerate(ordered) if last_report_at <= deadline), len(ordered))
    return ordered[met + 1] if met + 1 < len(ordered) else None


def missed_progress_deadline(
    *, deadlines: Sequence[datetime], last_report_at: datetime | None, now: datetime
) -> datetime | None:
    """The owed progress deadline when now has passed it (a lapse), else None.

    The same rule as the task view's next_progress_due, so a reminder names the deadline people see.
    """
    owed = owed_progress_deadline(deadlines=deadlines, last_report_at=last_report_at)
    return owed if owed is not None and owed < now else None


def plan(
    *,
    facts: Iterable[TaskFact],
    categories: Mapping[str, str],
    channels: Sequence[Channel],
    announced: Collection[Key],
) -> list[Delivery]:
    """The deliveries to make: for each (task, event, unit) not yet announced, one per matching channel.

    A unit is the task's lead and each co-unit; a channel matches by unit id, the unit's category
    or "*" and must list the event; red also goes to every escalate channel. Ordered by task,
    event (yellow, red, progress_due), lead before co-units in their given order, then channel order.
    """
    ordered = sorted(facts, key=lambda f: (f.task, EVENTS.index(f.event)))
    seen: set[Key] = set()
    out: list[Delivery] = []
    for fact in ordered:
        for unit in dict.fromkeys((fact.lead_unit, *fact.co_units)):
            key = (fact.task, fact.event, unit)
            if key in announced or key in seen:
                continue
            seen.add(key)
            category = categories.get(unit)
            for index, channel in enumerate(channels):
                escalated = fact.event == "red" and channel.escalate
                if escalated or channel.wants(unit=unit, category=category, event=fact.event):
                    out.append(Delivery(fact=fact, unit=unit, channel_index=index, channel=channel))
    return out


def settled_keys(results: Iterable[tuple[Delivery, bool, bool]]) -> set[Key]:
    """The keys to record as announced, from (delivery, delivered, permanent failure) triples.

    A key is settled once any of its deliveries got through (a retry would repeat it to the
    channels that did), or when every one failed for good; a key whose deliveries all failed
    for a passing reason stays open so the next check tries again.
    """
    delivered: set[Key] = set()
    open_: set[Key] = set()
    keys: set[Key] = set()
    for delivery, ok, permanent in results:
        keys.add(delivery.key)
        if ok:
            delivered.add(delivery.key)
        elif not permanent:
            open_.add(delivery.key)
    return delivered | (keys - open_)
