"""The closed loop of a task: 立项 → 交办 → 承办 → 反馈 → 核查 → 销号, replayed from its events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.common.errors import FieldViolation, InvalidArgument, InvalidTransition, PermissionDenied
from services.common.vocabulary import TASK_EVENT_KINDS, TASK_STATES

__all__ = [
    "KIND_LABELS",
    "OPEN_STATES",
    "STATE_LABELS",
    "Event",
    "Kind",
    "Replay",
    "State",
    "check_actor",
    "due_in_force",
    "holder",
    "next_state",
    "replay",
    "report_that_counts",
]


class State(StrEnum):
    """Where a task stands in the closed loop."""

    CREATED = "created"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    REPORTED = "reported"
    VERIFIED = "verified"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Kind(StrEnum):
    """What a task event does."""

    CREATE = "create"
    ASSIGN = "assign"
    ACCEPT = "accept"
    PROGRESS = "progress"
    REPORT = "report"
    REJECT = "reject"
    VERIFY = "verify"
    CLOSE = "close"
    CANCEL = "cancel"
    EXTEND = "extend"


STATE_LABELS: dict[State, str] = {state: TASK_STATES[state] for state in State}
KIND_LABELS: dict[Kind, str] = {kind: TASK_EVENT_KINDS[kind] for kind in Kind}

OPEN_STATES: frozenset[State] = frozenset(State) - {State.CLOSED, State.CANCELLED}

# The state an event leads to does not depend on where it comes from; only whether it is
# allowed does. (replay() keeps a rejected re-report's predecessor current, see there.)
_TARGET: dict[Kind, State] = {
    Kind.CREATE: State.CREATED,
    Kind.ASSIGN: State.ASSIGNED,
    Kind.ACCEPT: State.ACCEPTED,
    Kind.PROGRESS: State.ACCEPTED,
    Kind.REPORT: State.REPORTED,
    Kind.VERIFY: State.VERIFIED,
    Kind.REJECT: State.ACCEPTED,
    Kind.CLOSE: State.CLOSED,
    Kind.CANCEL: State.CANCELLED,
}

_STRICT_FROM: dict[Kind, frozenset[State]] = {
    Kind.CREATE: frozenset(),
    Kind.ASSIGN: frozenset({State.CREATED}),
    Kind.ACCEPT: frozenset({State.ASSIGNED}),
    Kind.PROGRESS: frozenset({State.ACCEPTED}),
    Kind.REPORT: frozenset({State.ACCEPTED}),
    Kind.VERIFY: frozenset({State.REPORTED}),
    Kind.REJECT: frozenset({State.REPORTED, State.VERIFIED}),
    Kind.CLOSE: frozenset({State.VERIFIED}),
    Kind.CANCEL: OPEN_STATES,
    # 延期: only while the task is open, i.e. assigned and not reported (SCORING.md §2).
    Kind.EXTEND: frozenset({State.ASSIGNED, State.ACCEPTED}),
}

# Offices keep ledgers loosely (FORMATS.md): a progress or report implies the accept nobody
# wrote down, a unit may re-report (also after verification), a late accept or a progress note
# after the report is recorded without moving the task back, and a task may be closed straight
# away. What stays an error is what FORMATS.md names: verify and reject without an unrejected
# report, and anything after close or cancel.
_WORKING = frozenset({State.ASSIGNED, State.ACCEPTED, State.REPORTED, State.VERIFIED})
_LENIENT_FROM: dict[Kind, frozenset[State]] = {
    **_STRICT_FROM,
    Kind.ACCEPT: _WORKING,
    Kind.PROGRESS: _WORKING,
    Kind.REPORT: _WORKING,
    Kind.VERIFY: frozenset({State.REPORTED, State.VERIFIED}),
    Kind.CLOSE: _WORKING,
}
# Events that note work under way; after the report they leave the task where it stands.
_NOTES = frozenset({Kind.ACCEPT, Kind.PROGRESS})

_ORDER = list(State)


def _describe(state: State) -> str:
    return STATE_LABELS[state]


def _rule(kind: Kind, allowed: frozenset[State]) -> str:
    if kind is Kind.CREATE:
        return "立项只能是任务的第一步"
    if kind in (Kind.VERIFY, Kind.REJECT):
        return f"{KIND_LABELS[kind]}之前须有一次未被退回的反馈"
    names = [_describe(s) for s in sorted(allowed, key=_ORDER.index)]
    listed = names[0] if len(names) == 1 else f"{'、'.join(names[:-1])}或{names[-1]}"
    return f"{KIND_LABELS[kind]}只能用于{listed}的任务"


def next_state(state: State | None, kind: Kind, *, lenient: bool) -> State:
    """The state after an event of kind, from state (None: the task has no events yet)."""
    kind = Kind(kind)
    if state is None:
        if kind is Kind.CREATE:
            return State.CREATED
        raise InvalidTransition("任务的记录须从立项开始；这项任务还没有任何记录")
    state = State(state)
    if state not in OPEN_STATES:
        raise InvalidTransition(f"任务已销号或已撤销，不能再记录；任务现为{_describe(state)}")
    allowed = (_LENIENT_FROM if lenient else _STRICT_FROM)[kind]
    if state not in allowed:
        raise InvalidTransition(f"{_rule(kind, allowed)}；任务现为{_describe(state)}")
    if lenient and kind in _NOTES and state in (State.REPORTED, State.VERIFIED):
        return state
    if kind is Kind.EXTEND:
        return state
    return _TARGET[kind]


@dataclass(frozen=True)
class Event:
    """One recorded step of a task's history; seq is the order it was recorded in."""

    seq: int
    kind: Kind
    at: datetime
    by: str | None = None
    note: str | None = None
    # The new due instant an extend (延期) carries; None for every other kind.
    due_at: datetime | None = None


@dataclass(frozen=True)
class Replay:
    """What a task's history adds up to."""

    state: State
    reported_at: datetime | None
    rejected: frozenset[int]
    accepted_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    # The due instant of the latest extension (延期), None when the task has none.
    extended_to: datetime | None = None
    # The latest verify (核查) of the whole history, rejected or not: a report before it is verified.
    last_verified_at: datetime | None = None


def _name(event: Event) -> str:
    return f"第 {event.seq} 条记录（{KIND_LABELS[Kind(event.kind)]}，{event.at.isoformat()}）"


def _ordered(events: Iterable[Event]) -> list[Event]:
    """Events by instant, ties in recorded order, after checking they can be ordered at all."""
    events = list(events)
    seen: set[int] = set()
    for event in events:
        if event.at.tzinfo is None or event.at.utcoffset() is None:
            raise InvalidArgument(
                FieldViolation("at", f"须带时区偏移（第 {event.seq} 条记录：{event.at.isoformat()}）")
            )
        if event.seq in seen:
            raise InvalidArgument(FieldViolation("seq", f"不得重复（第 {event.seq} 条记录出现两次）"))
        seen.add(event.seq)
    return sorted(events, key=lambda e: (e.at, e.seq))


def _refuse_events_before_assign(ordered: Sequence[Event]) -> None:
    """InvalidArgument when an event other than the create comes before the assign."""
    assign = next((e for e in ordered if e.kind == Kind.ASSIGN), None)
    if assign is not None:
        for event in ordered:
            if event.at < assign.at and event.kind != Kind.CREATE:
                raise InvalidArgument(
                    FieldViolation(
                        "at",
                        f"不得早于交办时间 assigned_at（{_name(event)}；交办于 {assign.at.isoformat()}）",
                    )
                )


def replay(events: Iterable[Event], *, lenient: bool, due_at: datetime | None = None) -> Replay:
    """Replay a task's whole history, from its create, in order of (at, seq); due_at is the task's own
    due instant (given or computed), which extensions are checked against (SCORING.md §2)."""
    ordered = _ordered(events)
    if not ordered:
        raise InvalidArgument(FieldViolation("events", "须从立项开始"))
    _refuse_events_before_assign(ordered)

    state: State | None = None
    reports: list[Event] = []  # unrejected reports, latest last
    rejected: set[int] = set()
    accepted_at: datetime | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    due = due_at
    extended_to: datetime | None = None
    last_verified_at: datetime | None = None
    for event in ordered:
        try:
            after = next_state(state, event.kind, lenient=lenient)
            if event.kind == Kind.EXTEND:
                due = extended_to = _extension(event, due)
        except InvalidTransition as exc:
            raise InvalidTransition(f"{_name(event)}：{exc}") from exc
        if after in (State.ACCEPTED, State.REPORTED) and accepted_at is None:
            accepted_at = event.at
        if event.kind == Kind.REPORT:
            reports.append(event)
        elif event.kind == Kind.REJECT:
            rejected.add(reports.pop().seq)
            verified_at = None
            # A rejected re-report leaves the earlier report standing, and with it the task
            # waiting for verification; this keeps "reported or verified" the same as "has an
            # unrejected report", which is what lenient verify and reject ask for.
            if reports:
                after = State.REPORTED
        elif event.kind == Kind.VERIFY:
            verified_at = last_verified_at = event.at
        elif event.kind == Kind.CLOSE:
            closed_at = event.at
        elif event.kind == Kind.CANCEL:
            cancelled_at = event.at
        state = after
    assert state is not None  # the loop ran at least once
    return Replay(
        state=state,
        reported_at=reports[-1].at if reports else None,
        rejected=frozenset(rejected),
        accepted_at=accepted_at,
        verified_at=verified_at,
        closed_at=closed_at,
        cancelled_at=cancelled_at,
        extended_to=extended_to,
        last_verified_at=last_verified_at,
    )


def _extension(event: Event, due: datetime | None) -> datetime:
    """The new due instant of an extend event, checked against the due instant in force before it."""
    if event.due_at is None:
        raise InvalidTransition("延期（extend）须给出新的截止时间 due_at")
    if due is not None:
        if event.at > due:
            raise InvalidTransition(
                f"延期（extend）须在截止时间 {due.isoformat()} 之前或当时提出，此时已逾期"
            )
        if event.due_at <= due:
            raise InvalidTransition(
                f"延期后的截止时间 due_at {event.due_at.isoformat()} 须晚于原截止时间 {due.isoformat()}"
            )
    return event.due_at


def due_in_force(events: Iterable[Event], *, due_at: datetime, as_of: datetime) -> tuple[datetime, bool]:
    """(the due instant in force at as_of, whether it is an extension's): the latest extend at or before
    as_of, else the task's own (SCORING.md §2)."""
    extensions = [e for e in _ordered(events) if e.kind == Kind.EXTEND and e.at <= as_of and e.due_at]
    if not extensions:
        return due_at, False
    last = extensions[-1].due_at
    assert last is not None
    return last, True


def report_that_counts(events: Iterable[Event], *, as_of: datetime) -> datetime | None:
    """The latest report at or before as_of that no reject, at any time, rejected (SCORING.md §4)."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise InvalidArgument(FieldViolation("as_of", "须带时区偏移"))
    ordered = _ordered(events)
    unrejected: list[Event] = []
    rejected: set[int] = set()
    for event in ordered:
        if event.kind == Kind.REPORT:
            unrejected.append(event)
        elif event.kind == Kind.REJECT and unrejected:
            rejected.add(unrejected.pop().seq)
    standing = [e for e in ordered if e.kind == Kind.REPORT and e.seq not in rejected and e.at <= as_of]
    return standing[-1].at if standing else None


_SUPERVISOR_KINDS = frozenset({Kind.CREATE, Kind.ASSIGN, Kind.VERIFY, Kind.REJECT, Kind.CLOSE, Kind.CANCEL})
_LEAD_KINDS = frozenset({Kind.ACCEPT, Kind.PROGRESS, Kind.REPORT})
_CO_UNIT_KINDS = frozenset({Kind.PROGRESS})


def check_actor(kind: Kind, *, role: str, unit: str | None, lead_unit: str, co_units: Sequence[str]) -> None:
    """Raise PermissionDenied unless a caller of role (and unit) may record an event of kind on this task."""
    kind = Kind(kind)
    what = f"“{KIND_LABELS[kind]}”"
    if role == "office":
        return
    if kind is Kind.EXTEND:
        raise PermissionDenied(f"只有考核办（office）可以批准延期（extend）；角色 {role} 不可以")
    if role == "supervisor":
        if kind in _SUPERVISOR_KINDS:
            return
        raise PermissionDenied(f"督查室不能记录{what}；由牵头单位记录")
    if role == "department":
        if kind not in _LEAD_KINDS:
            raise PermissionDenied(f"单位角色不能记录{what}；由督查室或考核办记录")
        if unit is None:
            raise PermissionDenied(f"未绑定单位的单位账号不能记录{what}")
        if unit == lead_unit:
            return
        if kind in _CO_UNIT_KINDS and unit in co_units:
            return
        if kind in _CO_UNIT_KINDS:
            raise PermissionDenied(
                f"单位 {unit} 不能在 {lead_unit} 牵头的任务上记录{what}：它既不是牵头单位也不是协办单位"
            )
        raise PermissionDenied(f"单位 {unit} 不能在 {lead_unit} 牵头的任务上记录{what}：只有牵头单位可以")
    if role == "viewer":
        raise PermissionDenied(f"查阅角色不能记录{what}：只能查看")
    raise PermissionDenied(f"未知角色 {role!r} 不能记录{what}")


def holder(state: State, *, lead_unit: str) -> str:
    """Who has the task now: the lead unit until it reports, then the supervisor; nobody once it is done."""
    state = State(state)
    if state in (State.CREATED, State.ASSIGNED, State.ACCEPTED):
        return lead_unit
    if state in (State.REPORTED, State.VERIFIED):
        return "supervisor"
    return ""


# ---- 延期 requests (h-extend): the pure check of a request and of its approval, apart from the replay's.


def check_extend(*, state: State, due_in_force: datetime | None, new_due: datetime, at: datetime) -> None:
    """An extension (延期, SCORING.md §2) may be recorded at `at`: open task, later due, in time.

    Open means assigned and neither reported, closed nor cancelled; `at` is at or before the due instant
    in force, and the new one later than it.
    """
    for name, moment in (("due_at", new_due), ("at", at)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidArgument(FieldViolation(name, f"须带时区（{moment.isoformat()}）"))
    state = State(state)
    if state not in _STRICT_FROM[Kind.EXTEND]:
        raise InvalidTransition(f"只有已交办、尚未反馈的任务才能延期；该任务{STATE_LABELS[state]}（{state}）")
    if due_in_force is None:
        raise InvalidTransition("该任务还没有办结时限，无从延期")
    if at > due_in_force:
        raise InvalidTransition(
            f"延期须在现行办结时限 {due_in_force:%Y-%m-%d %H:%M} 之前办理；现在已逾期（{at:%Y-%m-%d %H:%M}）"
        )
    if new_due <= due_in_force:
        raise InvalidArgument(
            FieldViolation(
                "due_at",
                f"新的办结时限 {new_due:%Y-%m-%d %H:%M} 须晚于现行时限 {due_in_force:%Y-%m-%d %H:%M}",
            )
        )
