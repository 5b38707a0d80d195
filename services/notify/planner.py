"""Which reminders to send: per (task, event, unit, occurrence), to every channel that asked for it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from services.notify.config import EVENTS, Channel, Repeat

# (task id, event, unit id): what is announced; each time it is, is one occurrence (1, 2, …).
Key = tuple[str, str, str]
# The channel name of rows kept from before channels were told apart: they stand for every channel.
LEGACY_CHANNEL = "*"


@dataclass(frozen=True)
class Told:
    """One announcement already made: to which channel, its occurrence, when, and for which deadline."""

    channel: str
    occurrence: int
    sent_at: datetime
    # The missed progress deadline, or for yellow and red the due instant it was told against.
    deadline_at: datetime | None = None


# When a repeat falls due: the instant `repeat` after `moment` (working days need the calendar).
Later = Callable[[datetime, Repeat], datetime]


def repeat_after(
    moment: datetime,
    repeat: Repeat,
    *,
    tz: tzinfo | None = None,
    add_working_days: Callable[[date, int], date] | None = None,
) -> datetime:
    """The instant `repeat` after moment; N working days later keeps the local time of day."""
    if repeat.unit == "minutes":
        return moment + timedelta(minutes=repeat.amount)
    if repeat.unit == "hours":
        return moment + timedelta(hours=repeat.amount)
    if add_working_days is None or tz is None:
        raise ValueError("a repeat in working days needs the calendar and the time zone")
    local = moment.astimezone(tz)
    day = add_working_days(local.date(), repeat.amount)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=tz)


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
    # The task's 责任人 (a person of the lead unit): the name, and the mobile a robot @-mentions by
    # ("" when the task names nobody or the person's mobile is not known). Never in a repr, so never logged.
    responsible_name: str = ""
    responsible_mobile: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}, not {self.event!r}")
        if (self.event == "progress_due") != (self.progress_due_at is not None):
            raise ValueError("progress_due_at is given exactly when the event is progress_due")


@dataclass(frozen=True)
class Delivery:
    """One reminder to POST: the fact, the unit it concerns, the channel (by config index), which time.

    occurrence: the n-th time the unit is told of this (task, event); on an escalate channel, the n-th
    time the supervisor is. told: how many times the unit had been told before this check.
    """

    fact: TaskFact
    unit: str
    channel_index: int
    channel: Channel
    occurrence: int = 1
    told: int = 0

    @property
    def key(self) -> Key:
        """The (task, event, unit) this delivery announces."""
        return (self.fact.task, self.fact.event, self.unit)

    @property
    def is_lead(self) -> bool:
        """Whether the unit leads the task (otherwise it is a co-unit)."""
        return self.unit == self.fact.lead_unit

    @property
    def escalation(self) -> bool:
        """Whether this is a red task going up to the supervisor's channel."""
        return self.fact.event == "red" and self.channel.escalate

    @property
    def mention(self) -> str:
        """The mobile a robot message @-mentions: the 责任人's, on the lead unit's own channels; "" otherwise.

        The 责任人 is a person of the lead unit: a co-unit's reminder and the supervisor's escalation
        name nobody (the supervisor's group is the office's, not the unit's); a plain json channel
        mentions nobody (its body is fixed by FORMATS.md).
        """
        if not self.is_lead or self.escalation or self.channel.format == "json":
            return ""
        return self.fact.responsible_mobile

    def told_row(self, *, at: datetime) -> Told:
        """The row that records this delivery as made at `at`."""
        return Told(
            channel=self.channel.fingerprint,
            occurrence=self.occurrence,
            sent_at=at,
            deadline_at=self.fact.progress_due_at or self.fact.due_at,
        )


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
    responsible_name: str = "",
    responsible_mobile: str = "",
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
                responsible_name=responsible_name,
                responsible_mobile=responsible_mobile,
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


def latest_missed_deadline(
    *, deadlines: Sequence[datetime], reports: Iterable[datetime], now: datetime
) -> datetime | None:
    """The latest progress deadline passed by now when no report fell in its period, else None.

    Each missed deadline is its own occurrence (FORMATS.md): a unit that missed the first quarterly
    report and then the second is told of each, while one that caught up is not told again.
    """
    passed = sorted(d for d in deadlines if d < now)
    if not passed:
        return None
    latest = passed[-1]
    before = passed[-2] if len(passed) > 1 else None
    met = any(r <= latest and (before is None or r > before) for r in reports)
    return None if met else latest


def plan(
    *,
    facts: Iterable[TaskFact],
    categories: Mapping[str, str],
    channels: Sequence[Channel],
    announced: Mapping[Key, Sequence[Told]],
    now: datetime,
    later: Later = repeat_after,
) -> list[Delivery]:
    """The deliveries to make in this check (announced: what each key was told so far).

    A unit is the task's lead and each co-unit. A channel matches by unit id, the unit's category or
    "*" and must list the event; it gets occurrence 1 of a key, and then, for a red task with the
    channel's `repeat`, occurrence n + 1 each time `repeat` has passed since it last told the unit.
    A missed progress deadline not yet announced is the next occurrence. A red task goes to each
    escalate channel once the unit has been told `escalate_after` times (at once when no channel of
    the unit's own could tell it), then again every `repeat` of that channel.
    Ordered by task, event (yellow, red, progress_due), lead before co-units in their given order,
    then channel order.
    """
    ordered = sorted(facts, key=lambda f: (f.task, EVENTS.index(f.event)))
    escalators = {c.fingerprint for c in channels if c.escalate}
    seen: set[Key] = set()
    out: list[Delivery] = []
    for fact in ordered:
        for unit in dict.fromkeys((fact.lead_unit, *fact.co_units)):
            key = (fact.task, fact.event, unit)
            if key in seen:
                continue
            seen.add(key)
            told = _Told(announced.get(key, ()), fact=fact, escalators=escalators)
            category = categories.get(unit)
            own = [
                (i, c)
                for i, c in enumerate(channels)
                if not (fact.event == "red" and c.escalate)
                and c.wants(unit=unit, category=category, event=fact.event)
            ]
            for index, channel in enumerate(channels):
                if fact.event == "red" and channel.escalate:
                    occurrence = _escalation_due(channel, told, has_own=bool(own), now=now, later=later)
                elif (index, channel) in own:
                    occurrence = _unit_due(channel, fact, told, now=now, later=later)
                else:
                    occurrence = None
                if occurrence is not None:
                    out.append(
                        Delivery(
                            fact=fact,
                            unit=unit,
                            channel_index=index,
                            channel=channel,
                            occurrence=occurrence,
                            told=told.times,
                        )
                    )
    return out


class _Told:
    """What a (task, event, unit) was told, split as the rules need it.

    A yellow or red task is told per due instant: an extension (or a calendar that moves a computed
    due instant) makes its turning yellow or red against the new one a fresh start, while occurrences
    go on counting, so a number is never used twice. Rows kept from before due instants were recorded
    count for any due instant.
    """

    def __init__(self, rows: Iterable[Told], *, fact: TaskFact, escalators: Collection[str]) -> None:
        self.due_at = None if fact.event == "progress_due" else fact.due_at
        self.all = sorted(rows, key=lambda r: (r.sent_at, r.occurrence))
        # An escalate channel speaks for the supervisor only of red tasks; of what else it subscribed
        # to, it tells the unit like any other channel.
        self.unit_rows = [r for r in self.all if fact.event != "red" or r.channel not in escalators]
        self.current = self.episode(self.unit_rows)
        self.n = max((r.occurrence for r in self.unit_rows), default=0)

    def episode(self, rows: Iterable[Told]) -> list[Told]:
        """The rows told against the current due instant (all of them for a missed progress deadline)."""
        if self.due_at is None:
            return list(rows)
        return [r for r in rows if r.deadline_at is None or r.deadline_at == self.due_at]

    @property
    def times(self) -> int:
        """How many times the unit has been told against the current due instant."""
        return len({r.occurrence for r in self.current})


def _of(channel: Channel, rows: Iterable[Told]) -> list[Told]:
    """The channel's rows; rows kept from before channels were told apart stand for every channel."""
    return [r for r in rows if r.channel in (channel.fingerprint, LEGACY_CHANNEL)]


def _unit_due(channel: Channel, fact: TaskFact, told: _Told, *, now: datetime, later: Later) -> int | None:
    """The occurrence this channel tells the unit now, or None."""
    mine = _of(channel, told.current)
    if fact.event == "progress_due":
        deadline = fact.progress_due_at
        assert deadline is not None
        # A row kept from before deadlines were recorded covers every deadline it came after.
        if any(r.deadline_at == deadline or (r.deadline_at is None and deadline <= r.sent_at) for r in mine):
            return None
        same = [r.occurrence for r in told.unit_rows if r.deadline_at == deadline]
        return min(same) if same else told.n + 1
    if not mine:
        # First time for this channel against this due instant (or its earlier try failed for a passing
        # reason): the occurrence another channel already told the unit, or the next one.
        return max((r.occurrence for r in told.current), default=told.n + 1)
    if fact.event != "red" or channel.repeat is None:
        return None
    due = later(mine[-1].sent_at, channel.repeat)
    if due > now:
        return None
    # An occurrence another channel sent since this one fell due is the one this channel missed.
    last = max(r.occurrence for r in mine)
    missed = sorted(r.occurrence for r in told.current if r.occurrence > last and r.sent_at >= due)
    return missed[0] if missed else told.n + 1


def _escalation_due(
    channel: Channel, told: _Told, *, has_own: bool, now: datetime, later: Later
) -> int | None:
    """The occurrence this escalate channel is told now (its own count), or None."""
    ever = _of(channel, told.all)
    mine = told.episode(ever)
    following = max((r.occurrence for r in ever), default=0) + 1
    if not mine:
        # Nobody can tell a unit without a channel of its own: the supervisor then hears at once.
        threshold = channel.escalate_after if has_own else 0
        return following if told.times >= threshold else None
    if channel.repeat is None or later(mine[-1].sent_at, channel.repeat) > now:
        return None
    return following


def settled_rows(results: Iterable[tuple[Delivery, bool, bool]], *, at: datetime) -> dict[Key, list[Told]]:
    """The announcements to record, from (delivery, delivered, permanent failure) triples.

    A delivery that got through is recorded, and so is one that failed for good (a retry would fail
    the same way); one that failed for a passing reason is not, so the next check tries that channel
    again with the same occurrence.
    """
    rows: dict[Key, list[Told]] = {}
    for delivery, ok, permanent in results:
        if ok or permanent:
            rows.setdefault(delivery.key, []).append(delivery.told_row(at=at))
    return rows
