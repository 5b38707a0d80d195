"""A task as people see it (TaskView), and the page tokens of the tasks service's lists."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from services.common import calendar as cal
from services.common.errors import InvalidArgument
from services.common.text import check_id
from services.common.timeutil import from_epoch, iso
from services.tasks.domain import OPEN_STATES, STATE_LABELS, State, holder
from services.tasks.handlers.context import TasksContext
from services.tasks.people import PartView
from services.tasks.progress import REPORTING_KINDS, progress_due
from services.tasks.storage import repository as repo

MAX_PAGE = 5000
DEFAULT_PAGE = 200


@dataclass
class EventView:
    seq: int
    kind: str
    at: str
    by: str
    note: str
    rejected: bool
    due_at: str = ""  # an extend's (延期) new due instant


@dataclass
class TaskView:
    """A task as people see it: colour and outcome as of an instant, who holds it."""

    id: str
    title: str
    task_type: str
    task_type_name: str
    source: str
    lead_unit: str
    co_units: list[str]
    priority: str
    state: str
    state_label: str
    assigned_at: str
    due_at: str
    reported_at: str
    color: str
    outcome: str
    holder: str
    next_progress_due: str
    created_at: str
    updated_at: str
    etag: str
    as_of: str
    progress_overdue_since: str = ""
    history: list[EventView] = field(default_factory=list)
    responsible: str = ""
    responsible_name: str = ""
    leader: str = ""
    leader_name: str = ""
    parent: str = ""
    parts: list[PartView] = field(default_factory=list)


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode() if last else ""


def decode_token(token: str) -> str:
    if not token:
        return ""
    # Strict: a token with characters outside the alphabet is refused, not read as another one.
    try:
        last = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
        return check_id("page_token", last)
    except (ValueError, UnicodeError, InvalidArgument):
        raise InvalidArgument("page_token", "不是本服务签发的翻页令牌") from None


# A page token of a list read by report instant: the last task's report instant in this many digits, its id.
_AT_DIGITS = 20


def encode_position(at: int | None, last: str) -> str:
    """The token after a task of a list read by report instant (never reported: after every instant)."""
    return encode_token(f"{NEVER if at is None else at:0{_AT_DIGITS}d}{last}") if last else ""


def decode_position(token: str) -> tuple[int, str]:
    """(report instant, id) of the task a list read by report instant goes on after; (-1, "") at the start."""
    text = decode_token(token)
    if not text:
        return -1, ""
    digits, last = text[:_AT_DIGITS], text[_AT_DIGITS:]
    if not (digits.isascii() and digits.isdigit()) or not last:
        raise InvalidArgument("page_token", "不是本服务签发的翻页令牌")
    return int(digits), last


# A task never reported sorts after every report (instants are seconds; this is far past any).
NEVER = 10**18


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "不得为负数")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def _is_open(row: repo.TaskRow) -> bool:
    state = State(row.state)
    return state in OPEN_STATES and state != State.CREATED and row.reported_at is None


def task_view(
    ctx: TasksContext, row: repo.TaskRow, *, at: int, events: list[repo.EventRow] | None = None
) -> TaskView:
    """row as of at; with its history (and progress deadlines) when events are given."""
    task_type = ctx.scheme.task_types.get(row.task_type)
    state, tz = State(row.state), ctx.tz
    color = ""
    if _is_open(row) and row.assigned_at is not None and row.due_at is not None:
        color = cal.colour(
            at=from_epoch(at, tz),
            assigned_at=from_epoch(row.assigned_at, tz),
            due_at=from_epoch(row.due_at, tz),
            yellow_threshold=ctx.scheme.timeliness.yellow_threshold,
        )
    outcome = ""
    if row.reported_at is not None and row.due_at is not None:
        outcome = "on_time" if row.reported_at <= row.due_at else "late"
    view = TaskView(
        id=row.id,
        title=row.title,
        task_type=row.task_type,
        task_type_name=task_type.name if task_type else row.task_type,
        source=row.source,
        lead_unit=row.lead_unit,
        co_units=list(row.co_units),
        priority=row.priority,
        state=row.state,
        state_label=STATE_LABELS[state],
        assigned_at=iso(row.assigned_at, tz),
        due_at=iso(row.due_at, tz),
        reported_at=iso(row.reported_at, tz),
        color=color,
        outcome=outcome,
        holder=holder(state, lead_unit=row.lead_unit),
        next_progress_due="",
        created_at=iso(row.created_at, tz),
        updated_at=iso(row.updated_at, tz),
        etag=f'"{row.version}"',
        as_of=iso(at, tz),
        responsible=row.responsible,
        leader=row.leader,
        parent=row.parent,
    )
    if events is not None:
        _with_history(ctx, view, row, at=at, events=events)
    return view


def _with_history(
    ctx: TasksContext, view: TaskView, row: repo.TaskRow, *, at: int, events: list[repo.EventRow]
) -> None:
    """view's history, and its next progress report due (and since when one is overdue)."""
    tz = ctx.tz
    view.history = [
        EventView(e.seq, e.kind, iso(e.at, tz), e.by, e.note, e.rejected, iso(e.due_at, tz)) for e in events
    ]
    task_type = ctx.scheme.task_types.get(row.task_type)
    if _is_open(row) and task_type and task_type.progress_every and row.assigned_at and row.due_at:
        due = progress_due(
            assigned_at=row.assigned_at,
            due_at=row.due_at,
            every=task_type.progress_every,
            reported=(e.at for e in events if e.kind in REPORTING_KINDS),
            now=from_epoch(at, tz),
            calendar=ctx.calendar,
            tz=tz,
        )
        view.next_progress_due = due.next_due.isoformat() if due.next_due else ""
        view.progress_overdue_since = due.overdue_since.isoformat() if due.overdue_since else ""


def with_progress(ctx: TasksContext, conn: Any, rows: list[repo.TaskRow], *, at: int) -> list[TaskView]:
    """Views of rows with their progress deadlines, reading the history only of tasks that owe reports."""
    owing = [
        r.id
        for r in rows
        if (t := ctx.scheme.task_types.get(r.task_type)) is not None and t.progress_every is not None
    ]
    events = repo.events_of(conn, owing) if owing else {}
    views = []
    for row in rows:
        view = task_view(ctx, row, at=at, events=events.get(row.id, []) if row.id in events else None)
        if row.id in events:
            view.history = []
        views.append(view)
    return views
