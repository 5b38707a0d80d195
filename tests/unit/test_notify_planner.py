"""Unit tests of the reminder planner: per (task, event, unit, occurrence), to the channels that want it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.config import EVENTS, Channel, Repeat
from services.notify.planner import (
    Delivery,
    TaskFact,
    Told,
    facts_for_task,
    latest_missed_deadline,
    missed_progress_deadline,
    owed_progress_deadline,
    plan,
    repeat_after,
    settled_rows,
)

SH = ZoneInfo("Asia/Shanghai")
ASSIGNED = datetime(2026, 11, 1, 9, tzinfo=SH)
DUE = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
NOW = datetime(2026, 12, 7, 10, tzinfo=SH)
CATEGORIES = {"fgj": "department", "czj": "department", "xz1": "township", "xz2": "township"}


def fact(task: str = "T1", event: str = "yellow", lead: str = "fgj", co: tuple[str, ...] = ()) -> TaskFact:
    progress = datetime(2026, 11, 15, 23, 59, 59, tzinfo=SH) if event == "progress_due" else None
    return TaskFact(
        task=task,
        title=f"{task} 的标题",
        lead_unit=lead,
        co_units=co,
        event=event,
        due_at=DUE,
        assigned_at=ASSIGNED,
        progress_due_at=progress,
    )


def channel(
    *units: str,
    events: tuple[str, ...] = EVENTS,
    escalate: bool = False,
    n: int = 0,
    repeat: Repeat | None = None,
    after: int = 0,
) -> Channel:
    return Channel(
        url=f"http://127.0.0.1:9/hook{n}",
        format="json",
        units=units,
        events=events,
        escalate=escalate,
        repeat=repeat,
        escalate_after=after,
    )


def summary(deliveries: list[Delivery]) -> list[tuple[str, str, str, int]]:
    return [(*d.key, d.channel_index) for d in deliveries]


def test_one_delivery_per_key_and_matching_channel() -> None:
    channels = [channel("*", n=0), channel("fgj", n=1), channel("czj", n=2)]
    out = plan(facts=[fact()], categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert summary(out) == [("T1", "yellow", "fgj", 0), ("T1", "yellow", "fgj", 1)]


def test_a_key_is_planned_once_even_when_the_fact_repeats() -> None:
    out = plan(facts=[fact(), fact()], categories=CATEGORIES, channels=[channel("*")], announced={}, now=NOW)
    assert summary(out) == [("T1", "yellow", "fgj", 0)]


@pytest.mark.parametrize(
    ("name", "matches"), [("xz1", True), ("township", True), ("*", True), ("xz2", False)]
)
def test_units_match_by_id_category_or_star(name: str, matches: bool) -> None:
    out = plan(
        facts=[fact(lead="xz1")], categories=CATEGORIES, channels=[channel(name)], announced={}, now=NOW
    )
    assert summary(out) == ([("T1", "yellow", "xz1", 0)] if matches else [])


def test_a_unit_without_a_known_category_matches_by_id_and_star_only() -> None:
    channels = [channel("township", n=0), channel("new", n=1), channel("*", n=2)]
    out = plan(facts=[fact(lead="new")], categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert [d.channel_index for d in out] == [1, 2]


def test_a_channel_gets_only_its_events() -> None:
    channels = [channel("*", events=("red",), n=0), channel("*", events=("yellow", "progress_due"), n=1)]
    facts = [fact(event="yellow"), fact(event="red"), fact(event="progress_due")]
    out = plan(facts=facts, categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert summary(out) == [
        ("T1", "yellow", "fgj", 1),
        ("T1", "red", "fgj", 0),
        ("T1", "progress_due", "fgj", 1),
    ]


def test_co_units_get_their_own_keys_after_the_lead_in_their_order() -> None:
    out = plan(
        facts=[fact(lead="fgj", co=("xz2", "czj", "fgj"))],
        categories=CATEGORIES,
        channels=[channel("*")],
        announced={},
        now=NOW,
    )
    assert [d.unit for d in out] == ["fgj", "xz2", "czj"]
    assert [d.is_lead for d in out] == [True, False, False]


def test_escalate_channels_get_red_of_any_unit_once_per_key() -> None:
    supervisor = channel(escalate=True, events=("yellow",), n=1)
    channels = [channel("fgj", n=0), supervisor]
    facts = [fact(event="red", co=("xz1",))]
    out = plan(facts=facts, categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert summary(out) == [("T1", "red", "fgj", 0), ("T1", "red", "fgj", 1), ("T1", "red", "xz1", 1)]


def test_escalate_channels_do_not_get_yellow_or_progress_unless_they_subscribed() -> None:
    supervisor = channel(escalate=True, n=0)
    facts = [fact(event="yellow"), fact(event="progress_due")]
    assert plan(facts=facts, categories=CATEGORIES, channels=[supervisor], announced={}, now=NOW) == []
    subscribed = channel("department", escalate=True, events=("yellow",), n=0)
    out = plan(facts=facts, categories=CATEGORIES, channels=[subscribed], announced={}, now=NOW)
    assert summary(out) == [("T1", "yellow", "fgj", 0)]


def test_a_channel_that_matches_and_escalates_gets_a_red_key_once() -> None:
    both = channel("*", escalate=True)
    out = plan(facts=[fact(event="red")], categories=CATEGORIES, channels=[both], announced={}, now=NOW)
    assert summary(out) == [("T1", "red", "fgj", 0)]


def test_announced_keys_are_skipped_per_unit() -> None:
    facts = [fact(event="red", co=("xz1",)), fact(task="T2", event="yellow")]
    star = channel("*")
    earlier = NOW - timedelta(hours=1)
    announced = {
        ("T1", "red", "fgj"): [Told(star.fingerprint, 1, earlier)],
        ("T2", "yellow", "fgj"): [Told(star.fingerprint, 1, earlier)],
    }
    out = plan(facts=facts, categories=CATEGORIES, channels=[star], announced=announced, now=NOW)
    assert summary(out) == [("T1", "red", "xz1", 0)]


def test_rows_kept_from_before_channels_were_told_apart_stand_for_every_channel() -> None:
    announced = {("T1", "red", "fgj"): [Told("*", 1, NOW - timedelta(days=3))]}
    channels = [channel("*", n=0), channel("fgj", n=1)]
    assert (
        plan(
            facts=[fact(event="red")], categories=CATEGORIES, channels=channels, announced=announced, now=NOW
        )
        == []
    )


def test_the_order_is_task_event_unit_channel_whatever_the_input_order() -> None:
    facts = [
        fact("T2", "red"),
        fact("T1", "progress_due"),
        fact("T1", "red", co=("czj",)),
        fact("T1", "yellow"),
    ]
    channels = [channel("*", n=0), channel("department", n=1)]
    forward = plan(facts=facts, categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    backward = plan(facts=facts[::-1], categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert forward == backward
    assert summary(forward) == [
        ("T1", "yellow", "fgj", 0),
        ("T1", "yellow", "fgj", 1),
        ("T1", "red", "fgj", 0),
        ("T1", "red", "fgj", 1),
        ("T1", "red", "czj", 0),
        ("T1", "red", "czj", 1),
        ("T1", "progress_due", "fgj", 0),
        ("T1", "progress_due", "fgj", 1),
        ("T2", "red", "fgj", 0),
        ("T2", "red", "fgj", 1),
    ]


def test_a_fact_refuses_an_unknown_event_and_a_stray_progress_deadline() -> None:
    with pytest.raises(ValueError, match="event must be one of"):
        fact(event="blue")
    with pytest.raises(ValueError, match="progress_due_at"):
        TaskFact("T1", "t", "fgj", (), "red", DUE, ASSIGNED, progress_due_at=DUE)
    with pytest.raises(ValueError, match="progress_due_at"):
        TaskFact("T1", "t", "fgj", (), "progress_due", DUE, ASSIGNED)


@pytest.mark.parametrize(
    ("colour", "missed", "events"),
    [
        ("blue", None, []),
        ("yellow", None, ["yellow"]),
        ("red", None, ["red"]),
        ("blue", DUE - timedelta(days=10), ["progress_due"]),
        ("red", DUE - timedelta(days=10), ["red", "progress_due"]),
    ],
)
def test_facts_for_task(colour: str, missed: datetime | None, events: list[str]) -> None:
    facts = facts_for_task(
        task="T1",
        title="t",
        lead_unit="fgj",
        co_units=["xz1"],
        assigned_at=ASSIGNED,
        due_at=DUE,
        colour=colour,
        missed_progress_at=missed,
    )
    assert [f.event for f in facts] == events
    assert all(f.co_units == ("xz1",) for f in facts)
    assert [f.progress_due_at for f in facts if f.event == "progress_due"] == ([missed] if missed else [])


def test_a_report_meets_the_deadline_of_the_period_it_falls_in() -> None:
    d1, d2, d3 = (datetime(2026, 11, day, 23, 59, 59, tzinfo=SH) for day in (8, 15, 22))
    deadlines = [d3, d1, d2]
    at = datetime(2026, 11, 16, 9, tzinfo=SH)
    # No report at all: the first deadline is owed, and missed once passed.
    assert missed_progress_deadline(deadlines=deadlines, last_report_at=None, now=at) == d1
    assert missed_progress_deadline(deadlines=deadlines, last_report_at=None, now=ASSIGNED) is None
    # A report a few hours before d1 meets d1; d2 is owed and has passed.
    before_d1 = datetime(2026, 11, 8, 10, tzinfo=SH)
    assert missed_progress_deadline(deadlines=deadlines, last_report_at=before_d1, now=at) == d2
    # A report in d2's period (after d1) meets d2: nothing is missed yet, d3 is owed.
    in_d2 = datetime(2026, 11, 9, 10, tzinfo=SH)
    assert missed_progress_deadline(deadlines=deadlines, last_report_at=in_d2, now=at) is None
    assert owed_progress_deadline(deadlines=deadlines, last_report_at=in_d2) == d3
    assert missed_progress_deadline(deadlines=deadlines, last_report_at=in_d2, now=d3 + (at - d2)) == d3
    # A report in the last period leaves nothing owed; no deadlines, nothing owed.
    assert owed_progress_deadline(deadlines=deadlines, last_report_at=d3) is None
    assert missed_progress_deadline(deadlines=[], last_report_at=None, now=at) is None


def test_settled_rows_are_the_delivered_and_the_final_failures_not_the_passing_ones() -> None:
    channels = [channel("*", n=0), channel("*", n=1)]
    facts = [fact("T1"), fact("T2"), fact("T3")]
    d = plan(facts=facts, categories=CATEGORIES, channels=channels, announced={}, now=NOW)
    assert [x.fact.task for x in d] == ["T1", "T1", "T2", "T2", "T3", "T3"]
    results = [
        (d[0], True, False),  # T1: one got through, the other is down for now: only that one is retried
        (d[1], False, False),
        (d[2], False, True),  # T2: both refused for good: neither is tried again
        (d[3], False, True),
        (d[4], False, False),  # T3: both down for now: both tried again at the next check
        (d[5], False, False),
    ]
    rows = settled_rows(results, at=NOW)
    assert rows == {
        ("T1", "yellow", "fgj"): [Told(channels[0].fingerprint, 1, NOW, DUE)],
        ("T2", "yellow", "fgj"): [
            Told(channels[0].fingerprint, 1, NOW, DUE),
            Told(channels[1].fingerprint, 1, NOW, DUE),
        ],
    }
    # At the next check the channel that was down gets the same occurrence, the other nothing.
    again = plan(facts=facts[:1], categories=CATEGORIES, channels=channels, announced=rows, now=NOW)
    assert [(x.channel_index, x.occurrence) for x in again] == [(1, 1)]


MINUTE = Repeat(amount=1, unit="minutes")


def checks(
    channels: list[Channel], moments: list[datetime], *, facts: list[TaskFact] | None = None
) -> list[list[tuple[str, int, int]]]:
    """Every check at these moments, each delivery going through: (unit, channel, occurrence) per check."""
    announced: dict[tuple[str, str, str], list[Told]] = {}
    seen = []
    for moment in moments:
        out = plan(
            facts=facts or [fact(event="red")],
            categories=CATEGORIES,
            channels=channels,
            announced=announced,
            now=moment,
        )
        for key, rows in settled_rows(((x, True, False) for x in out), at=moment).items():
            announced.setdefault(key, []).extend(rows)
        seen.append([(x.unit, x.channel_index, x.occurrence) for x in out])
    return seen


def test_a_red_task_is_told_again_every_repeat_while_it_stays_red() -> None:
    moments = [NOW, NOW + timedelta(seconds=30), NOW + timedelta(seconds=60), NOW + timedelta(seconds=61)]
    moments.append(NOW + timedelta(seconds=121))
    assert checks([channel("*", repeat=MINUTE)], moments) == [
        [("fgj", 0, 1)],
        [],
        [("fgj", 0, 2)],
        [],
        [("fgj", 0, 3)],
    ]


def test_without_repeat_a_red_task_is_told_once_and_yellow_never_repeats() -> None:
    later = [NOW, NOW + timedelta(days=30)]
    assert checks([channel("*")], later) == [[("fgj", 0, 1)], []]
    yellow = [fact(event="yellow")]
    assert checks([channel("*", repeat=MINUTE)], later, facts=yellow) == [[("fgj", 0, 1)], []]


def test_the_escalate_channel_hears_once_the_unit_was_told_k_times() -> None:
    boss = channel(escalate=True, n=1, after=2)
    moments = [NOW + timedelta(seconds=s) for s in (0, 60, 61, 120, 180)]
    assert checks([channel("*", repeat=MINUTE), boss], moments) == [
        [("fgj", 0, 1)],
        [("fgj", 0, 2)],
        [("fgj", 1, 1)],  # told twice: up it goes, once (the supervisor's channel has no repeat)
        [("fgj", 0, 3)],
        [("fgj", 0, 4)],
    ]


def test_escalate_after_0_is_at_once_and_a_unit_nobody_can_tell_escalates_at_once() -> None:
    at_once = checks([channel("*"), channel(escalate=True, n=1)], [NOW])
    assert at_once == [[("fgj", 0, 1), ("fgj", 1, 1)]]
    lonely = checks([channel("czj"), channel(escalate=True, n=1, after=3)], [NOW])
    assert lonely == [[("fgj", 1, 1)]]


def test_an_escalate_channel_with_its_own_repeat_counts_its_own_occurrences() -> None:
    boss = channel(escalate=True, n=1, repeat=Repeat(amount=2, unit="minutes"))
    moments = [NOW + timedelta(minutes=m) for m in (0, 1, 2)]
    assert checks([channel("*", repeat=MINUTE), boss], moments) == [
        [("fgj", 0, 1), ("fgj", 1, 1)],
        [("fgj", 0, 2)],
        [("fgj", 0, 3), ("fgj", 1, 2)],
    ]


def test_channels_with_different_repeats_share_the_unit_s_count() -> None:
    fast, slow = channel("*", repeat=MINUTE, n=0), channel("fgj", repeat=Repeat(2, "minutes"), n=1)
    moments = [NOW + timedelta(minutes=m) for m in (0, 1, 2)]
    assert checks([fast, slow], moments) == [
        [("fgj", 0, 1), ("fgj", 1, 1)],
        [("fgj", 0, 2)],
        [("fgj", 0, 3), ("fgj", 1, 3)],
    ]


def test_each_missed_progress_deadline_is_its_own_occurrence() -> None:
    d1, d2 = datetime(2026, 9, 1, 23, 59, 59, tzinfo=SH), datetime(2026, 12, 1, 23, 59, 59, tzinfo=SH)

    def lapse(deadline: datetime) -> TaskFact:
        return TaskFact("M1", "重大事项", "cgz", (), "progress_due", DUE, ASSIGNED, progress_due_at=deadline)

    star = channel("*", repeat=MINUTE)
    announced: dict[tuple[str, str, str], list[Told]] = {}
    seen = []
    for moment, deadline in (
        (d1 + timedelta(hours=1), d1),
        (d1 + timedelta(days=1), d1),
        (d2 + timedelta(hours=1), d2),
    ):
        out = plan(
            facts=[lapse(deadline)], categories=CATEGORIES, channels=[star], announced=announced, now=moment
        )
        for key, rows in settled_rows(((x, True, False) for x in out), at=moment).items():
            announced.setdefault(key, []).extend(rows)
        seen.append([x.occurrence for x in out])
    # The repeat is for red tasks: a lapse is told once per deadline.
    assert seen == [[1], [], [2]]
    assert [r.deadline_at for r in announced["M1", "progress_due", "cgz"]] == [d1, d2]


def test_the_latest_missed_deadline_is_the_last_one_passed_without_a_report_in_its_period() -> None:
    d1, d2, d3 = (datetime(2026, month, 1, 23, 59, 59, tzinfo=SH) for month in (3, 6, 9))
    deadlines = [d1, d2, d3]
    assert latest_missed_deadline(deadlines=deadlines, reports=[], now=d1 - timedelta(days=1)) is None
    assert latest_missed_deadline(deadlines=deadlines, reports=[], now=d1 + timedelta(days=1)) == d1
    assert latest_missed_deadline(deadlines=deadlines, reports=[], now=d2 + timedelta(days=1)) == d2
    # A late report for d1 falls in d2's period and meets d2: nothing is missed until d3 passes.
    late = d1 + timedelta(days=10)
    assert latest_missed_deadline(deadlines=deadlines, reports=[late], now=d2 + timedelta(days=1)) is None
    assert latest_missed_deadline(deadlines=deadlines, reports=[late], now=d3 + timedelta(days=1)) == d3


def test_a_repeat_in_working_days_skips_the_weekend_and_keeps_the_time_of_day() -> None:
    friday = datetime(2026, 12, 4, 16, 30, tzinfo=SH)

    def add(day: date, n: int) -> date:
        while n:
            day += timedelta(days=1)
            n -= day.weekday() < 5
        return day

    due = repeat_after(friday, Repeat(1, "working_days"), tz=SH, add_working_days=add)
    assert due == datetime(2026, 12, 7, 16, 30, tzinfo=SH)
    assert repeat_after(friday, Repeat(3, "hours")) == friday + timedelta(hours=3)
    with pytest.raises(ValueError, match="calendar"):
        repeat_after(friday, Repeat(1, "working_days"))


def test_a_red_task_whose_due_instant_moved_is_told_afresh_and_the_count_goes_on() -> None:
    star, boss = channel("*", n=0), channel(escalate=True, n=1, after=1)
    announced: dict[tuple[str, str, str], list[Told]] = {}

    def check(moment: datetime, due: datetime) -> list[tuple[int, int]]:
        red = TaskFact("T1", "批示", "fgj", (), "red", due, ASSIGNED)
        out = plan(facts=[red], categories=CATEGORIES, channels=[star, boss], announced=announced, now=moment)
        for key, rows in settled_rows(((x, True, False) for x in out), at=moment).items():
            announced.setdefault(key, []).extend(rows)
        return [(x.channel_index, x.occurrence) for x in out]

    assert check(NOW, DUE) == [(0, 1)]
    assert check(NOW + timedelta(minutes=1), DUE) == [(1, 1)]  # told once: up to the supervisor
    assert check(NOW + timedelta(days=1), DUE) == []
    # Extended (延期) and overdue again against the new due instant: told again, as occurrence 2; the
    # supervisor hears once the unit was told once against the new due instant.
    later_due = DUE + timedelta(days=7)
    assert check(NOW + timedelta(days=8), later_due) == [(0, 2)]
    assert check(NOW + timedelta(days=8, minutes=1), later_due) == [(1, 2)]
    assert check(NOW + timedelta(days=9), later_due) == []


def test_an_escalate_channel_that_subscribed_to_yellow_tells_it_once() -> None:
    subscribed = channel("department", escalate=True, events=("yellow",), n=0)
    moments = [NOW, NOW + timedelta(minutes=1), NOW + timedelta(days=1)]
    assert checks([subscribed], moments, facts=[fact(event="yellow")]) == [[("fgj", 0, 1)], [], []]
