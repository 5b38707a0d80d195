"""Unit tests of the task closed loop: transitions, replay, the report that counts, who may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidArgument, InvalidTransition, PermissionDenied
from services.tasks.domain import (
    KIND_LABELS,
    OPEN_STATES,
    STATE_LABELS,
    Event,
    Kind,
    State,
    check_actor,
    holder,
    next_state,
    replay,
    report_that_counts,
)

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 6, 4, 9, tzinfo=SH)

C, A, AC, R, V, CL, X = (
    State.CREATED,
    State.ASSIGNED,
    State.ACCEPTED,
    State.REPORTED,
    State.VERIFIED,
    State.CLOSED,
    State.CANCELLED,
)

# Every (state, kind) a strict replay accepts, with where it leads.
STRICT: dict[tuple[State, Kind], State] = {
    (C, Kind.ASSIGN): A,
    (A, Kind.ACCEPT): AC,
    (AC, Kind.PROGRESS): AC,
    (AC, Kind.REPORT): R,
    (R, Kind.VERIFY): V,
    (R, Kind.REJECT): AC,
    (V, Kind.REJECT): AC,
    (V, Kind.CLOSE): CL,
    **{(s, Kind.CANCEL): X for s in (C, A, AC, R, V)},
    # 延期 leaves the task where it stands, and only an open (assigned, unreported) one.
    (A, Kind.EXTEND): A,
    (AC, Kind.EXTEND): AC,
}
LENIENT: dict[tuple[State, Kind], State] = {
    **STRICT,
    (A, Kind.PROGRESS): AC,
    (A, Kind.REPORT): R,
    (R, Kind.REPORT): R,
    (A, Kind.CLOSE): CL,
    (AC, Kind.CLOSE): CL,
    (R, Kind.CLOSE): CL,
    # What FORMATS.md does not name as an error is recorded: a late accept, a progress note after
    # the report (both leave the task where it stands), a re-report after verification, a second verify.
    (AC, Kind.ACCEPT): AC,
    (R, Kind.ACCEPT): R,
    (V, Kind.ACCEPT): V,
    (R, Kind.PROGRESS): R,
    (V, Kind.PROGRESS): V,
    (V, Kind.REPORT): R,
    (V, Kind.VERIFY): V,
}


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def history(*steps: tuple[Kind, float], assign: bool = True) -> list[Event]:
    """A task's events: create and assign at T0 (as the importer writes them), then steps at T0 + hours."""
    events = [Event(1, Kind.CREATE, T0)]
    if assign:
        events.append(Event(2, Kind.ASSIGN, T0))
    for kind, hours in steps:
        events.append(Event(len(events) + 1, kind, h(hours)))
    return events


# Labels


def test_labels_cover_every_member() -> None:
    assert set(STATE_LABELS) == set(State)
    assert set(KIND_LABELS) == set(Kind)
    assert [STATE_LABELS[s] for s in State] == [
        "已立项",
        "已交办",
        "承办中",
        "已反馈",
        "已核查",
        "已销号",
        "已撤销",
    ]
    assert [KIND_LABELS[k] for k in Kind] == [
        "立项",
        "交办",
        "承办",
        "进展",
        "反馈",
        "退回",
        "核查",
        "销号",
        "撤销",
        "延期",
    ]
    assert {C, A, AC, R, V} == OPEN_STATES


# next_state: the whole table, both modes


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("state", list(State))
def test_next_state_table(state: State, kind: Kind, lenient: bool) -> None:
    table = LENIENT if lenient else STRICT
    if (state, kind) in table:
        assert next_state(state, kind, lenient=lenient) is table[(state, kind)]
    else:
        with pytest.raises(InvalidTransition) as refused:
            next_state(state, kind, lenient=lenient)
        message = str(refused.value)
        assert f"任务现为{STATE_LABELS[state]}" in message
        if state in (CL, X):
            assert "任务已销号或已撤销，不能再记录" in message
        else:
            assert KIND_LABELS[kind] in message


@pytest.mark.parametrize("lenient", [False, True])
def test_next_state_from_nothing(lenient: bool) -> None:
    assert next_state(None, Kind.CREATE, lenient=lenient) is C
    for kind in Kind:
        if kind is not Kind.CREATE:
            with pytest.raises(InvalidTransition, match="须从立项开始"):
                next_state(None, kind, lenient=lenient)


def test_next_state_rule_texts() -> None:
    with pytest.raises(InvalidTransition, match=r"^退回之前须有一次未被退回的反馈；任务现为承办中"):
        next_state(AC, Kind.REJECT, lenient=True)
    with pytest.raises(InvalidTransition, match=r"^核查之前须有一次未被退回的反馈"):
        next_state(A, Kind.VERIFY, lenient=True)
    with pytest.raises(InvalidTransition, match=r"^承办只能用于已交办的任务；"):
        next_state(AC, Kind.ACCEPT, lenient=False)
    with pytest.raises(InvalidTransition, match=r"反馈只能用于承办中的任务；"):
        next_state(A, Kind.REPORT, lenient=False)
    with pytest.raises(
        InvalidTransition,
        match=r"反馈只能用于已交办、承办中、已反馈或已核查的任务",
    ):
        next_state(C, Kind.REPORT, lenient=True)
    with pytest.raises(InvalidTransition, match=r"^立项只能是任务的第一步；任务现为已立项"):
        next_state(C, Kind.CREATE, lenient=True)


def test_next_state_takes_plain_strings() -> None:
    assert next_state(State("assigned"), Kind("accept"), lenient=False) is AC
    assert next_state("assigned", "accept", lenient=False) is AC  # type: ignore[arg-type]


# replay: the whole loop


def test_replay_of_the_whole_strict_loop() -> None:
    events = history(
        (Kind.ACCEPT, 1), (Kind.PROGRESS, 24), (Kind.REPORT, 48), (Kind.VERIFY, 50), (Kind.CLOSE, 51)
    )
    got = replay(events, lenient=False)
    assert got.state is CL
    assert got.reported_at == h(48)
    assert got.rejected == frozenset()
    assert got.accepted_at == h(1)
    assert got.verified_at == h(50)
    assert got.closed_at == h(51)
    assert got.cancelled_at is None


def test_replay_states_along_the_way() -> None:
    assert replay(history(assign=False), lenient=False).state is C
    assert replay(history(), lenient=False).state is A
    assert replay(history((Kind.ACCEPT, 1)), lenient=False).state is AC
    assert replay(history((Kind.ACCEPT, 1), (Kind.REPORT, 2)), lenient=False).state is R


def test_replay_orders_by_instant_then_seq() -> None:
    events = [
        Event(5, Kind.VERIFY, h(3)),
        Event(1, Kind.CREATE, T0),
        Event(4, Kind.REPORT, h(2)),
        Event(3, Kind.ACCEPT, h(2)),  # same instant as the report, recorded first
        Event(2, Kind.ASSIGN, T0),
    ]
    got = replay(events, lenient=False)
    assert got.state is V
    assert got.accepted_at == h(2)


def test_replay_ties_follow_recorded_order_even_when_that_is_wrong() -> None:
    events = [*history(), Event(3, Kind.REPORT, h(2)), Event(4, Kind.ACCEPT, h(2))]
    with pytest.raises(InvalidTransition, match=r"^第 3 条记录（反馈，2025-06-04T11:00:00\+08:00）"):
        replay(events, lenient=False)
    assert replay(events[:3], lenient=True).state is R


def test_replay_compares_instants_across_offsets() -> None:
    # 03:30Z is 11:30 in Shanghai, after the 11:00+08 accept although its wall clock reads earlier.
    events = [
        *history(),
        Event(3, Kind.ACCEPT, h(2)),
        Event(4, Kind.REPORT, datetime(2025, 6, 4, 3, 30, tzinfo=UTC)),
    ]
    assert replay(events, lenient=False).state is R


def test_replay_reject_message_names_event_state_and_rule() -> None:
    events = [
        Event(1, Kind.CREATE, T0),
        Event(2, Kind.ASSIGN, T0),
        Event(3, Kind.ACCEPT, datetime(2025, 6, 5, 9, tzinfo=SH)),
        Event(4, Kind.REJECT, datetime(2025, 6, 11, 15, tzinfo=SH)),
    ]
    with pytest.raises(InvalidTransition) as refused:
        replay(events, lenient=True)
    assert str(refused.value) == (
        "第 4 条记录（退回，2025-06-11T15:00:00+08:00）：退回之前须有一次未被退回的反馈；任务现为承办中"
    )


def test_replay_must_start_with_create() -> None:
    with pytest.raises(InvalidTransition, match=r"第 2 条记录（交办，.*须从立项开始"):
        replay([Event(2, Kind.ASSIGN, T0)], lenient=True)
    with pytest.raises(InvalidArgument) as empty:
        replay([], lenient=True)
    assert empty.value.violations[0].field == "events"


def test_replay_refuses_a_second_create_or_assign() -> None:
    with pytest.raises(InvalidTransition, match="立项只能是任务的第一步"):
        replay([*history(), Event(3, Kind.CREATE, h(1))], lenient=True)
    with pytest.raises(InvalidTransition, match=r"交办只能用于已立项的任务"):
        replay([*history(), Event(3, Kind.ASSIGN, h(1))], lenient=True)


@pytest.mark.parametrize("lenient", [False, True])
def test_replay_refuses_events_before_the_assignment(lenient: bool) -> None:
    events = [*history(), Event(3, Kind.ACCEPT, h(-1))]
    with pytest.raises(InvalidArgument) as refused:
        replay(events, lenient=lenient)
    (violation,) = refused.value.violations
    assert violation.field == "at"
    assert violation.description.startswith("不得早于交办时间 assigned_at")
    assert "第 3 条记录（承办，" in violation.description


def test_replay_allows_a_create_before_the_assignment() -> None:
    events = [Event(1, Kind.CREATE, h(-24)), Event(2, Kind.ASSIGN, T0), Event(3, Kind.ACCEPT, h(1))]
    assert replay(events, lenient=False).state is AC


def test_replay_cancel_before_assignment() -> None:
    got = replay([Event(1, Kind.CREATE, T0), Event(2, Kind.CANCEL, h(1))], lenient=False)
    assert got.state is X
    assert got.cancelled_at == h(1)
    assert got.reported_at is None


@pytest.mark.parametrize("lenient", [False, True])
def test_replay_refuses_naive_instants(lenient: bool) -> None:
    events = [*history(), Event(3, Kind.ACCEPT, datetime(2025, 6, 4, 10))]
    with pytest.raises(InvalidArgument) as refused:
        replay(events, lenient=lenient)
    assert refused.value.violations[0].field == "at"
    assert "须带时区偏移" in refused.value.violations[0].description


def test_replay_refuses_duplicate_seqs() -> None:
    with pytest.raises(InvalidArgument) as refused:
        replay([*history(), Event(2, Kind.ACCEPT, h(1))], lenient=True)
    assert refused.value.violations[0].field == "seq"


# Strict refusals (live RPC use)


@pytest.mark.parametrize(
    ("steps", "refused_kind"),
    [
        (((Kind.REPORT, 1),), "report"),  # no accept
        (((Kind.PROGRESS, 1),), "progress"),
        (((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.REPORT, 3)), "report"),  # re-report
        (((Kind.ACCEPT, 1), (Kind.CLOSE, 2)), "close"),  # close before verification
        (((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.CLOSE, 3)), "close"),
        (((Kind.ACCEPT, 1), (Kind.VERIFY, 2)), "verify"),
        (((Kind.ACCEPT, 1), (Kind.ACCEPT, 2)), "accept"),
        (((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.PROGRESS, 3)), "progress"),
    ],
)
def test_strict_refuses_what_lenient_might_not(
    steps: tuple[tuple[Kind, float], ...], refused_kind: str
) -> None:
    with pytest.raises(InvalidTransition, match=rf"（{KIND_LABELS[Kind(refused_kind)]}，"):
        replay(history(*steps), lenient=False)


# Lenient replays (ledger import)


def test_lenient_report_implies_accept() -> None:
    got = replay(history((Kind.REPORT, 5)), lenient=True)
    assert got.state is R
    assert got.accepted_at == h(5)
    assert got.reported_at == h(5)


def test_lenient_progress_implies_accept() -> None:
    got = replay(history((Kind.PROGRESS, 5), (Kind.PROGRESS, 6)), lenient=True)
    assert got.state is AC
    assert got.accepted_at == h(5)


def test_lenient_close_from_any_open_state_after_assignment() -> None:
    for steps in ((), ((Kind.ACCEPT, 1),), ((Kind.REPORT, 1),), ((Kind.REPORT, 1), (Kind.VERIFY, 2))):
        got = replay(history(*steps, (Kind.CLOSE, 9)), lenient=True)
        assert got.state is CL
        assert got.closed_at == h(9)
    with pytest.raises(InvalidTransition, match="销号"):
        replay(history((Kind.CLOSE, 0), assign=False), lenient=True)


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize("end", [Kind.CLOSE, Kind.CANCEL])
@pytest.mark.parametrize("after", list(Kind))
def test_nothing_follows_close_or_cancel(lenient: bool, end: Kind, after: Kind) -> None:
    steps: tuple[tuple[Kind, float], ...] = ((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.VERIFY, 3), (end, 4))
    with pytest.raises(InvalidTransition, match="任务已销号或已撤销，不能再记录"):
        replay(history(*steps, (after, 5)), lenient=lenient)


@pytest.mark.parametrize("lenient", [False, True])
def test_cancel_from_every_open_state(lenient: bool) -> None:
    prefixes: list[tuple[tuple[Kind, float], ...]] = [
        (),
        ((Kind.ACCEPT, 1),),
        ((Kind.ACCEPT, 1), (Kind.REPORT, 2)),
        ((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.VERIFY, 3)),
    ]
    for prefix in prefixes:
        got = replay(history(*prefix, (Kind.CANCEL, 9)), lenient=lenient)
        assert got.state is X
        assert got.cancelled_at == h(9)
    assert replay(history((Kind.CANCEL, 0), assign=False), lenient=lenient).state is X


# Report / reject / re-report sequences


def test_reject_reopens_and_the_next_report_counts() -> None:
    # T3 of the worked example.
    events = history(
        (Kind.REPORT, 24 * 7), (Kind.REJECT, 24 * 7 + 6), (Kind.REPORT, 24 * 12), (Kind.VERIFY, 24 * 13)
    )
    got = replay(events, lenient=True)
    assert got.state is V
    assert got.rejected == frozenset({3})
    assert got.reported_at == h(24 * 12)
    assert got.verified_at == h(24 * 13)


def test_reject_after_verification_undoes_it() -> None:
    events = history((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.VERIFY, 3), (Kind.REJECT, 4))
    got = replay(events, lenient=False)
    assert got.state is AC
    assert got.reported_at is None
    assert got.verified_at is None
    assert got.rejected == frozenset({4})
    assert got.accepted_at == h(1)


def test_strict_reject_report_reject_report() -> None:
    events = history(
        (Kind.ACCEPT, 1),
        (Kind.REPORT, 2),
        (Kind.REJECT, 3),
        (Kind.PROGRESS, 4),
        (Kind.REPORT, 5),
        (Kind.REJECT, 6),
        (Kind.REPORT, 7),
    )
    got = replay(events, lenient=False)
    assert got.state is R
    assert got.rejected == frozenset({4, 7})
    assert got.reported_at == h(7)


def test_second_reject_needs_another_report() -> None:
    events = history((Kind.ACCEPT, 1), (Kind.REPORT, 2), (Kind.REJECT, 3), (Kind.REJECT, 4))
    for lenient in (False, True):
        with pytest.raises(InvalidTransition, match=r"第 6 条记录（退回，.*未被退回的反馈"):
            replay(events, lenient=lenient)


def test_lenient_re_report_makes_the_newer_current() -> None:
    got = replay(history((Kind.REPORT, 1), (Kind.REPORT, 2)), lenient=True)
    assert got.state is R
    assert got.reported_at == h(2)
    assert got.rejected == frozenset()


def test_rejecting_a_re_report_leaves_the_earlier_report_standing() -> None:
    events = history((Kind.REPORT, 1), (Kind.REPORT, 2), (Kind.REJECT, 3))
    got = replay(events, lenient=True)
    assert got.rejected == frozenset({4})
    assert got.reported_at == h(1)
    assert got.state is R
    # It still has an unrejected report, so it may be verified or rejected once more.
    assert replay([*events, Event(6, Kind.VERIFY, h(4))], lenient=True).state is V
    twice = replay([*events, Event(6, Kind.REJECT, h(4))], lenient=True)
    assert twice.state is AC
    assert twice.rejected == frozenset({3, 4})
    assert twice.reported_at is None


def test_lenient_verify_needs_an_unrejected_report() -> None:
    with pytest.raises(InvalidTransition, match=r"第 3 条记录（核查，.*：核查之前须有一次未被退回的反馈"):
        replay(history((Kind.VERIFY, 1)), lenient=True)
    with pytest.raises(
        InvalidTransition,
        match=r"第 5 条记录（核查，.*：核查之前须有一次未被退回的反馈；任务现为承办中",
    ):
        replay(history((Kind.REPORT, 1), (Kind.REJECT, 2), (Kind.VERIFY, 3)), lenient=True)


# report_that_counts (SCORING.md §4)


def test_report_that_counts_plain() -> None:
    events = history((Kind.ACCEPT, 1), (Kind.REPORT, 5), (Kind.VERIFY, 6), (Kind.CLOSE, 7))
    assert report_that_counts(events, as_of=h(100)) == h(5)
    assert report_that_counts(events, as_of=h(5)) == h(5)
    assert report_that_counts(events, as_of=h(4)) is None


def test_report_that_counts_ignores_rejected_reports_even_when_rejected_after_as_of() -> None:
    events = history((Kind.REPORT, 5), (Kind.REJECT, 50), (Kind.REPORT, 60))
    # Seen at h(10) the first report stood, but the run knows it was rejected later.
    assert report_that_counts(events, as_of=h(10)) is None
    assert report_that_counts(events, as_of=h(59)) is None
    assert report_that_counts(events, as_of=h(60)) == h(60)


def test_report_that_counts_with_re_reports() -> None:
    events = history((Kind.REPORT, 1), (Kind.REPORT, 2), (Kind.REJECT, 3))
    assert report_that_counts(events, as_of=h(10)) == h(1)
    assert report_that_counts(events, as_of=h(1.5)) == h(1)
    assert report_that_counts(history((Kind.REPORT, 1), (Kind.REPORT, 2)), as_of=h(1.5)) == h(1)
    assert report_that_counts(history((Kind.REPORT, 1), (Kind.REPORT, 2)), as_of=h(10)) == h(2)


def test_report_that_counts_ties_in_recorded_order() -> None:
    # The reject comes after the report at the same instant, so it rejects that report.
    events = [
        *history(),
        Event(3, Kind.REPORT, h(1)),
        Event(4, Kind.REJECT, h(1)),
        Event(5, Kind.REPORT, h(2)),
    ]
    assert report_that_counts(events, as_of=h(1)) is None
    assert report_that_counts(events, as_of=h(2)) == h(2)


def test_report_that_counts_is_not_moved_by_progress_verify_or_close() -> None:
    events = history((Kind.REPORT, 1), (Kind.VERIFY, 2), (Kind.CLOSE, 3), assign=True)
    events.insert(2, Event(99, Kind.PROGRESS, h(0.5)))
    assert report_that_counts(events, as_of=h(10)) == h(1)


def test_report_that_counts_with_no_report() -> None:
    assert report_that_counts(history((Kind.ACCEPT, 1)), as_of=h(10)) is None
    assert report_that_counts([], as_of=h(10)) is None


def test_report_that_counts_refuses_naive_instants() -> None:
    with pytest.raises(InvalidArgument):
        report_that_counts(history(), as_of=datetime(2025, 12, 31, 23, 59, 59))
    with pytest.raises(InvalidArgument):
        report_that_counts([Event(1, Kind.REPORT, datetime(2025, 6, 4))], as_of=h(1))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from([Kind.REPORT, Kind.REJECT, Kind.PROGRESS]), st.integers(0, 20))),
    as_of=st.integers(-1, 21),
)
def test_report_that_counts_agrees_with_replay_at_the_end(steps: list[tuple[Kind, int]], as_of: int) -> None:
    events = history(*((kind, float(hour)) for kind, hour in steps))
    counted = report_that_counts(events, as_of=h(as_of))
    # Model: walk in order, a reject pops the latest unrejected report (if any).
    ordered = sorted(events, key=lambda e: (e.at, e.seq))
    stack: list[Event] = []
    rejected: set[int] = set()
    for event in ordered:
        if event.kind == Kind.REPORT:
            stack.append(event)
        elif event.kind == Kind.REJECT and stack:
            rejected.add(stack.pop().seq)
    standing = [e.at for e in ordered if e.kind == Kind.REPORT and e.seq not in rejected and e.at <= h(as_of)]
    assert counted == (standing[-1] if standing else None)
    if counted is not None:
        assert counted <= h(as_of)
    try:
        final = replay(events, lenient=True)
    except InvalidTransition:
        return
    # When the ledger replays, its current report is the one that counts with no cutoff.
    assert final.reported_at == report_that_counts(events, as_of=h(10_000))
    assert final.rejected == frozenset(rejected)


# check_actor


ALL = set(Kind)
SUPERVISOR = {Kind.CREATE, Kind.ASSIGN, Kind.VERIFY, Kind.REJECT, Kind.CLOSE, Kind.CANCEL}
LEAD = {Kind.ACCEPT, Kind.PROGRESS, Kind.REPORT}


def allowed(kind: Kind, role: str, unit: str | None) -> bool:
    try:
        check_actor(kind, role=role, unit=unit, lead_unit="fgj", co_units=["czj"])
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize(
    ("role", "unit", "expected"),
    [
        ("office", None, ALL),
        ("office", "fgj", ALL),
        ("supervisor", None, SUPERVISOR),
        ("department", "fgj", LEAD),  # the lead unit
        ("department", "czj", {Kind.PROGRESS}),  # a co-unit
        ("department", "sfj", set()),  # another unit
        ("department", None, set()),
        ("viewer", None, set()),
        ("viewer", "fgj", set()),
        ("admin", "fgj", set()),
    ],
)
def test_check_actor(role: str, unit: str | None, expected: set[Kind]) -> None:
    assert {k for k in Kind if allowed(k, role, unit)} == expected


def test_check_actor_messages_name_role_unit_and_kind() -> None:
    with pytest.raises(PermissionDenied, match=r"单位 sfj 不能在 fgj 牵头的任务上记录“反馈”"):
        check_actor(Kind.REPORT, role="department", unit="sfj", lead_unit="fgj", co_units=["czj"])
    with pytest.raises(PermissionDenied, match=r"单位 czj 不能在 fgj 牵头的任务上记录“承办”"):
        check_actor(Kind.ACCEPT, role="department", unit="czj", lead_unit="fgj", co_units=["czj"])
    with pytest.raises(PermissionDenied, match=r"督查室不能记录“反馈”"):
        check_actor(Kind.REPORT, role="supervisor", unit=None, lead_unit="fgj", co_units=[])
    with pytest.raises(PermissionDenied, match=r"单位角色不能记录“核查”"):
        check_actor(Kind.VERIFY, role="department", unit="fgj", lead_unit="fgj", co_units=[])
    with pytest.raises(PermissionDenied, match=r"查阅角色不能记录“撤销”"):
        check_actor(Kind.CANCEL, role="viewer", unit=None, lead_unit="fgj", co_units=[])
    with pytest.raises(PermissionDenied, match=r"未知角色 'admin'"):
        check_actor(Kind.CANCEL, role="admin", unit=None, lead_unit="fgj", co_units=[])


# holder


@pytest.mark.parametrize(
    ("state", "expected"),
    [(C, "fgj"), (A, "fgj"), (AC, "fgj"), (R, "supervisor"), (V, "supervisor"), (CL, ""), (X, "")],
)
def test_holder(state: State, expected: str) -> None:
    assert holder(state, lead_unit="fgj") == expected
