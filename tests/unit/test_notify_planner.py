"""Unit tests of the reminder planner: once per (task, event, unit), to the channels that asked for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.config import EVENTS, Channel
from services.notify.planner import (
    Delivery,
    TaskFact,
    facts_for_task,
    missed_progress_deadline,
    owed_progress_deadline,
    plan,
    settled_keys,
)

SH = ZoneInfo("Asia/Shanghai")
ASSIGNED = datetime(2026, 11, 1, 9, tzinfo=SH)
DUE = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
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


def channel(*units: str, events: tuple[str, ...] = EVENTS, escalate: bool = False, n: int = 0) -> Channel:
    return Channel(
        url=f"http://127.0.0.1:9/hook{n}", format="json", units=units, events=events, escalate=escalate
    )


def summary(deliveries: list[Delivery]) -> list[tuple[str, str, str, int]]:
    return [(*d.key, d.channel_index) for d in deliveries]


def test_one_delivery_per_key_and_matching_channel() -> None:
    channels = [channel("*", n=0), channel("fgj", n=1), channel("czj", n=2)]
    out = plan(facts=[fact()], categories=CATEGORIES, channels=channels, announced=set())
    assert summary(out) == [("T1", "yellow", "fgj", 0), ("T1", "yellow", "fgj", 1)]


def test_a_key_is_planned_once_even_when_the_fact_repeats() -> None:
    out = plan(facts=[fact(), fact()], categories=CATEGORIES, channels=[channel("*")], announced=set())
    assert summary(out) == [("T1", "yellow", "fgj", 0)]


@pytest.mark.parametrize(
    ("name", "matches"), [("xz1", True), ("township", True), ("*", True), ("xz2", False)]
)
def test_units_match_by_id_category_or_star(name: str, matches: bool) -> None:
    out = plan(facts=[fact(lead="xz1")], categories=CATEGORIES, channels=[channel(name)], announced=set())
    assert summary(out) == ([("T1", "yellow", "xz1", 0)] if matches else [])


def test_a_unit_without_a_known_category_matches_by_id_and_star_only() -> None:
    channels = [channel("township", n=0), channel("new", n=1), channel("*", n=2)]
    out = plan(facts=[fact(lead="new")], categories=CATEGORIES, channels=channels, announced=set())
    assert [d.channel_index for d in out] == [1, 2]


def test_a_channel_gets_only_its_events() -> None:
    channels = [channel("*", events=("red",), n=0), channel("*", events=("yellow", "progress_due"), n=1)]
    facts = [fact(event="yellow"), fact(event="red"), fact(event="progress_due")]
    out = plan(facts=facts, categories=CATEGORIES, channels=channels, announced=set())
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
        announced=set(),
    )
    assert [d.unit for d in out] == ["fgj", "xz2", "czj"]
    assert [d.is_lead for d in out] == [True, False, False]


def test_escalate_channels_get_red_of_any_unit_once_per_key() -> None:
    supervisor = channel(escalate=True, events=("yellow",), n=1)
    channels = [channel("fgj", n=0), supervisor]
    facts = [fact(event="red", co=("xz1",))]
    out = plan(facts=facts, categories=CATEGORIES, channels=channels, announced=set())
    assert summary(out) == [("T1", "red", "fgj", 0), ("T1", "red", "fgj", 1), ("T1", "red", "xz1", 1)]


def test_escalate_channels_do_not_get_yellow_or_progress_unless_they_subscribed() -> None:
    supervisor = channel(escalate=True, n=0)
    facts = [fact(event="yellow"), fact(event="progress_due")]
    assert plan(facts=facts, categories=CATEGORIES, channels=[supervisor], announced=set()) == []
    subscribed = channel("department", escalate=True, events=("yellow",), n=0)
    out = plan(facts=facts, categories=CATEGORIES, channels=[subscribed], announced=set())
    assert summary(out) == [("T1", "yellow", "fgj", 0)]


def test_a_channel_that_matches_and_escalates_gets_a_red_key_once() -> None:
    both = channel("*", escalate=True)
    out = plan(facts=[fact(event="red")], categories=CATEGORIES, channels=[both], announced=set())
    assert summary(out) == [("T1", "red", "fgj", 0)]


def test_announced_keys_are_skipped_per_unit() -> None:
    facts = [fact(event="red", co=("xz1",)), fact(task="T2", event="yellow")]
    announced = {("T1", "red", "fgj"), ("T2", "yellow", "fgj")}
    out = plan(facts=facts, categories=CATEGORIES, channels=[channel("*")], announced=announced)
    assert summary(out) == [("T1", "red", "xz1", 0)]


def test_the_order_is_task_event_unit_channel_whatever_the_input_order() -> None:
    facts = [
        fact("T2", "red"),
        fact("T1", "progress_due"),
        fact("T1", "red", co=("czj",)),
        fact("T1", "yellow"),
    ]
    channels = [channel("*", n=0), channel("department", n=1)]
    forward = plan(facts=facts, categories=CATEGORIES, channels=channels, announced=set())
    backward = plan(facts=facts[::-1], categories=CATEGORIES, channels=channels, announced=set())
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


def test_settled_keys_delivered_or_all_final_but_not_all_passing() -> None:
    channels = [channel("*", n=0), channel("*", n=1)]
    facts = [fact("T1"), fact("T2"), fact("T3"), fact("T4")]
    d = plan(facts=facts, categories=CATEGORIES, channels=channels, announced=set())
    assert [x.fact.task for x in d] == ["T1", "T1", "T2", "T2", "T3", "T3", "T4", "T4"]
    results = [
        (d[0], True, False),  # T1: one got through, the other is down for now
        (d[1], False, False),
        (d[2], False, True),  # T2: both refused for good
        (d[3], False, True),
        (d[4], False, False),  # T3: both down for now: try again next check
        (d[5], False, False),
        (d[6], False, True),  # T4: one refused, one down: the down one may still take it
        (d[7], False, False),
    ]
    assert settled_keys(results) == {("T1", "yellow", "fgj"), ("T2", "yellow", "fgj")}
