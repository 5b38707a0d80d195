"""Reading tasks and units: one snapshot each, a department held to its own unit's (and its 村's)."""

from __future__ import annotations

from functools import partial
from typing import Any

from services.common.auth import Identity
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.ranges import check_year
from services.common.scheme import Scheme
from services.common.text import check_text
from services.common.vocabulary import COLOURS
from services.tasks.domain import State
from services.tasks.facts import TaskFacts
from services.tasks.handlers.commands import GetTask, ListTasks
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.views import (
    NEVER,
    TaskView,
    decode_position,
    decode_token,
    encode_position,
    encode_token,
    page_size,
    task_view,
    with_progress,
)
from services.tasks.people import name_people, parts, reaches
from services.tasks.storage import repository as repo

MAX_TITLE_SEARCH = 200


def task_type_id(scheme: Scheme, text: str) -> str:
    """The task type text names by its id or by its name in the scheme; text itself when neither."""
    if not text or text in scheme.task_types:
        return text
    named = [t.id for t in scheme.task_types.values() if t.name == text]
    return named[0] if len(named) == 1 else text


def check_readable(actor: Identity, row: repo.TaskRow, conn: Any) -> None:
    """Refuses another unit's task to a department as a task that does not exist."""
    # The same words, so that neither its existence nor the unit it belongs to is told. A 乡镇 reads
    # its 村's.
    units = (row.lead_unit, *row.co_units)
    if actor.is_department and actor.unit not in units and not any(reaches(conn, actor, u) for u in units):
        raise NotFound(f"任务 {row.id!r} 不存在")


def list_units(
    ctx: TasksContext, *, category: str, size_asked: int, page_token: str
) -> tuple[list[tuple[str, str, str]], str]:
    size = page_size(size_asked)
    with ctx.db.read() as conn:
        rows = repo.list_units(conn, category=category, after=decode_token(page_token), limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return rows, encode_token(rows[-1][0]) if more and rows else ""


def get_task(ctx: TasksContext, facts: TaskFacts, query: GetTask) -> TaskView:
    at = facts.instant(query.as_of, name="as_of")
    with ctx.db.read() as conn:
        row = repo.get_task(conn, query.task_id)
        if row is None:
            raise NotFound(f"任务 {query.task_id!r} 不存在")
        check_readable(query.actor, row, conn)
        events = repo.events_of(conn, [query.task_id]).get(query.task_id, [])
        view = task_view(ctx, row, at=at, events=events)
        name_people(conn, view)
        view.parts = parts(lambda part: task_view(ctx, part, at=at), conn, query.task_id)
    return view


def _unit_in_reach(ctx: TasksContext, actor: Identity, unit: str) -> str:
    """The unit a list is of: a department's own (or one it reaches) only."""
    if not actor.is_department:
        return unit
    if not actor.unit:
        raise PermissionDenied("未绑定单位的单位账号不能列出任务")
    if unit and unit != actor.unit:
        with ctx.db.read() as conn:
            if not reaches(conn, actor, unit):
                raise PermissionDenied(f"单位 {actor.unit} 不能列出单位 {unit} 的任务")
    return unit or actor.unit


# The orders a task list may be read in ("" by id).
ORDERS = ("", "id", "reported_at")


def list_tasks(ctx: TasksContext, facts: TaskFacts, query: ListTasks) -> tuple[list[TaskView], str, int, int]:
    """A page of tasks, the next page's token, the colour instant, and (first page only) how many match."""
    unit = _unit_in_reach(ctx, query.actor, query.unit)
    if query.color and query.color not in COLOURS:
        raise InvalidArgument("color", "须为 blue（蓝）、yellow（黄）或 red（红）")
    if query.state and query.state not in {s.value for s in State}:
        raise InvalidArgument("state", "须为以下之一：" + "、".join(s.value for s in State))
    check_year(query.year)
    if query.order not in ORDERS:
        raise InvalidArgument("order", "须为 id（按编号）或 reported_at（最早反馈在前）")
    by_report = query.order == "reported_at"
    title = check_text("title", query.title.strip(), max_len=MAX_TITLE_SEARCH)
    at = facts.instant(query.as_of, name="as_of")
    due_from, due_before = facts.year_bounds(query.year) if query.year else (None, None)
    flt = repo.TaskFilter(
        unit=unit,
        state=query.state,
        color=query.color,
        task_type=task_type_id(ctx.scheme, query.task_type),
        due_from=due_from,
        due_before=due_before,
        overdue=query.overdue,
        title=title,
    )
    size = page_size(query.page_size)
    threshold = ctx.scheme.timeliness.yellow_threshold
    with ctx.db.read() as conn:
        if by_report:
            read = partial(repo.list_tasks_by_report, after=decode_position(query.page_token), never=NEVER)
        else:
            read = partial(repo.list_tasks, after=decode_token(query.page_token))
        rows = read(conn, flt, at=at, yellow_threshold=threshold, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        total = 0 if query.page_token else repo.count_tasks(conn, flt, at=at, yellow_threshold=threshold)
        views = with_progress(ctx, conn, rows, at=at)
    if not (more and rows):
        token = ""
    elif by_report:
        token = encode_position(rows[-1].reported_at, rows[-1].id)
    else:
        token = encode_token(rows[-1].id)
    return views, token, at, total
