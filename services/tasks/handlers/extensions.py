"""延期申请: a lead unit files for a later due instant; the office approves or refuses (宁强 5).

An approval is the task's `extend` event (SCORING.md §2), written in the decision's own transaction; the
request keeps who filed and who decided it, when and why, which is the timeline both sides see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from services.common import ranges
from services.common.auth import Identity
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, StaleEtag
from services.common.text import NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, to_epoch
from services.common.vocabulary import EXTENSION_DECISIONS, EXTENSION_STATES, code_of
from services.tasks.domain import Kind, State, check_actor, check_extend
from services.tasks.handlers.commands import DecideExtension, FileExtension, ListExtensions
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.extension_views import (
    DECISION_ALIASES,
    ID_PATTERN,
    MAX_PAGE,
    ExtensionView,
    extension_view,
    parse_due,
    people_time,
)
from services.tasks.storage import counters
from services.tasks.storage import extensions as store
from services.tasks.storage import repository as repo

ID_RULE = "申请编号只能由字母、数字和 . _ - 组成，至多 64 个字符"


def file_extension(ctx: TasksContext, cmd: FileExtension) -> ExtensionView:
    """A pending request of the task's lead unit, while the task is open and before its due instant."""
    actor, task_id = cmd.actor, cmd.task_id
    if actor.role not in ("department", "office"):
        raise PermissionDenied(f"角色 {actor.role} 不能申请延期：由牵头单位申请，考核办可代为登记")
    if not task_id:
        raise InvalidArgument("task_id", "请指明申请延期的任务编号")
    check_id("task_id", task_id)
    if cmd.ext_id and not ID_PATTERN.match(cmd.ext_id):
        raise InvalidArgument("id", ID_RULE)
    asked = parse_due(cmd.due_at, tz=ctx.tz)
    if not cmd.reason.strip():
        raise InvalidArgument("reason", "延期申请须写明不能按时完成的原因和进展情况")
    check_text("reason", cmd.reason, max_len=NOTE_MAX, allow_newlines=True)

    def work(conn: Connection) -> ExtensionView:
        repo.lock_task(conn, task_id)
        row = repo.get_task(conn, task_id)
        if row is None or (
            actor.is_department and actor.unit != row.lead_unit and actor.unit not in row.co_units
        ):
            # Another unit's task is, to a department, one that does not exist (as GetTask answers).
            raise NotFound(f"任务 {task_id!r} 不存在")
        if actor.is_department and actor.unit != row.lead_unit:
            raise PermissionDenied(f"任务 {task_id} 由 {row.lead_unit} 牵头：延期由牵头单位申请")
        now = ctx.clock()
        check_extend(
            state=State(row.state),
            due_in_force=from_epoch(row.due_at, ctx.tz) if row.due_at is not None else None,
            new_due=asked,
            at=from_epoch(now, ctx.tz),
        )
        return _file(ctx, conn, cmd, row, asked=asked, now=now)

    request = {"id": cmd.ext_id, "task_id": task_id, "due_at": cmd.due_at, "reason": cmd.reason}
    try:
        return ctx.once(cmd, "FileExtension", request, work, view=ExtensionView, target=_extension_target)
    except IntegrityError:
        if not cmd.ext_id:
            raise
        # Two requests given the same id at once: the later one is told it exists.
        raise InvalidArgument("id", f"延期申请 {cmd.ext_id} 已存在") from None


def _file(
    ctx: TasksContext, conn: Connection, cmd: FileExtension, row: repo.TaskRow, *, asked: datetime, now: int
) -> ExtensionView:
    waiting = store.pending_for(conn, cmd.task_id)
    if waiting:
        raise FailedPrecondition(f"任务 {cmd.task_id} 的延期申请 {waiting} 尚待审批，不能重复申请")
    new_id = cmd.ext_id or next_id(ctx, conn, now)
    if store.get_request(conn, new_id) is not None:
        raise InvalidArgument("id", f"延期申请 {new_id} 已存在")
    assert row.due_at is not None  # check_extend refuses a task without one
    store.insert_request(
        conn,
        request_id=new_id,
        task_id=cmd.task_id,
        unit=row.lead_unit,
        reason=cmd.reason.strip(),
        asked_due=to_epoch(asked),
        due_before=row.due_at,
        actor=cmd.actor,
        at=now,
    )
    return _get(ctx, conn, new_id)


def next_id(ctx: TasksContext, conn: Connection, now: int) -> str:
    """The year's next request id (YQ2026-001), drawn from its counter in the filing's transaction."""
    scope = f"YQ{from_epoch(now, ctx.tz).year}"
    prefix = f"{scope}-"

    def first() -> int:
        # A year without a counter yet goes on where counting its requests leaves it.
        return store.count_filed(conn, prefix=prefix) + 1

    while True:
        made = f"{prefix}{counters.draw(conn, scope, first=first):03d}"
        # A number a caller already gave as an id is passed over.
        if store.get_request(conn, made) is None:
            return made


def decide_extension(ctx: TasksContext, cmd: DecideExtension) -> ExtensionView:
    """The office's decision; an approval records the `extend` event with the granted due instant."""
    ext_id, reason = cmd.ext_id, cmd.reason.strip()
    if not ext_id:
        raise InvalidArgument("id", "请指明延期申请编号")
    if not ID_PATTERN.match(ext_id):
        raise InvalidArgument("id", ID_RULE)
    said = cmd.decision.strip()
    code = (
        DECISION_ALIASES.get(said)
        or code_of(EXTENSION_DECISIONS, said)
        or code_of(EXTENSION_STATES, said)
        or ""
    )
    if code not in EXTENSION_DECISIONS:
        raise InvalidArgument("decision", "须为 approved（批准）或 refused（不予批准）")
    granted = parse_due(cmd.due_at, tz=ctx.tz) if cmd.due_at.strip() else None
    if code == "refused" and granted is not None:
        raise InvalidArgument("due_at", "不予批准时不填新的办结时限")
    if code == "refused" and not reason:
        raise InvalidArgument("reason", "不予批准须写明理由")
    check_text("reason", cmd.reason, max_len=NOTE_MAX, allow_newlines=True)

    def work(conn: Connection) -> ExtensionView:
        # Read behind the lock: a decision made meanwhile is seen as made, not decided over again.
        store.lock_request(conn, ext_id)
        row = store.get_request(conn, ext_id)
        if row is None:
            raise NotFound(f"延期申请 {ext_id} 不存在")
        if row.state != "pending":
            if row.state == code:
                return extension_view(row, ctx.tz)
            raise FailedPrecondition(f"延期申请 {ext_id} 已审批：{EXTENSION_STATES[row.state]}")
        now = ctx.clock()
        new_due = None
        if code == "approved":
            new_due = to_epoch(granted) if granted is not None else row.asked_due
            _extend(ctx, conn, actor=cmd.actor, row=row, new_due=new_due, now=now, note=reason)
        decided = store.decide_request(
            conn,
            request_id=ext_id,
            version=row.version,
            state=code,
            granted_due=new_due,
            reason=reason,
            actor=cmd.actor,
            at=now,
        )
        if not decided:
            raise StaleEtag(f"延期申请 {ext_id} 刚被他人审批，请刷新后查看")
        return _get(ctx, conn, ext_id)

    request = {"id": ext_id, "decision": code, "due_at": cmd.due_at, "reason": cmd.reason}
    return ctx.once(cmd, "DecideExtension", request, work, view=ExtensionView, target=_extension_target)


def _extend(
    ctx: TasksContext, conn: Connection, *, actor: Identity, row: Any, new_due: int, now: int, note: str
) -> None:
    """The task's `extend` event and its new due instant, as the closed loop records one (office only).

    The same step the tasks service's "record an event" takes for kind extend; kept here so that it
    runs in the decision's transaction.
    """
    repo.lock_task(conn, row.task_id)
    task = repo.get_task(conn, row.task_id)
    if task is None:
        raise NotFound(f"任务 {row.task_id!r} 不存在")
    check_actor(Kind.EXTEND, role=actor.role, unit=actor.unit or None, lead_unit=task.lead_unit, co_units=())
    stored = repo.events_of(conn, [task.id]).get(task.id, [])
    # An event recorded in the same second as the last one still comes after it.
    at = max(now, max((e.at for e in stored), default=now))
    check_extend(
        state=State(task.state),
        due_in_force=from_epoch(task.due_at, ctx.tz) if task.due_at is not None else None,
        new_due=from_epoch(new_due, ctx.tz),
        at=from_epoch(at, ctx.tz),
    )
    text = f"延期至 {people_time(new_due, ctx.tz)}（延期申请 {row.id}）" + (f"：{note}" if note else "")
    store.insert_extend_event(
        conn, task_id=task.id, at=at, by=actor.subject, note=text, due_at=new_due, recorded_at=now
    )
    # From now on the due instant is the extension's, no longer a computed one (SCORING.md §2).
    values = {"due_at": new_due, "due_given": True, "updated_at": now}
    if not repo.update_task(conn, task.id, expected_version=task.version, values=values):
        raise StaleEtag(f"任务 {task.id} 刚被他人改动，请刷新后再审批")


def list_extensions(ctx: TasksContext, query: ListExtensions) -> tuple[list[ExtensionView], str]:
    """Requests in the order filed; a department's own unit's only."""
    actor, unit, state = query.actor, query.unit, query.state
    if actor.is_department:
        if unit and unit != actor.unit:
            raise PermissionDenied(f"单位 {actor.unit} 不能查看单位 {unit} 的延期申请")
        unit = actor.unit
    elif unit:
        check_id("unit", unit)
    if state:
        state = code_of(EXTENSION_STATES, state.strip()) or state
        if state not in EXTENSION_STATES:
            raise InvalidArgument("state", "须为 pending（待审批）、approved（已批准）或 refused（不予批准）")
    if query.task_id:
        check_id("task_id", query.task_id)
    ranges.check_year(query.year)
    filed_from = filed_before = None
    if query.year:
        filed_from = to_epoch(datetime(query.year, 1, 1, tzinfo=ctx.tz))
        filed_before = to_epoch(datetime(query.year + 1, 1, 1, tzinfo=ctx.tz))
    size = ranges.page_size(query.page_size, default=200, maximum=MAX_PAGE)
    after = ranges.seq_token(query.page_token)
    with ctx.db.read() as conn:
        rows = store.list_requests(
            conn,
            unit=unit,
            state=state,
            task_id=query.task_id,
            filed_from=filed_from,
            filed_before=filed_before,
            after=after,
            limit=size + 1,
        )
    more = len(rows) > size
    rows = rows[:size]
    return [extension_view(r, ctx.tz) for r in rows], str(rows[-1].seq) if more and rows else ""


def _get(ctx: TasksContext, conn: Connection, ext_id: str) -> ExtensionView:
    row = store.get_request(conn, ext_id)
    assert row is not None
    return extension_view(row, ctx.tz)


def _extension_target(view: ExtensionView) -> str:
    return f"extension={view.id}"
