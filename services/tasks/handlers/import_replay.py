"""The ledger import once the file is read: each touched task's history replayed, the staged rows written.

A bounded chunk of tasks at a time, set-based, in the import's one transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, literal, or_, select, union, update

from services.common.db import chunks
from services.common.errors import InvalidArgument, InvalidTransition, StaleEtag
from services.common.timeutil import from_epoch
from services.common.vocabulary import TASK_EVENT_KINDS, label_of
from services.tasks import staging
from services.tasks.domain import Event, Kind, Replay, replay
from services.tasks.handlers.import_run import ImportRun, line_error, refuse_missing
from services.tasks.history import derived, domain_events, own_due
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import task_co_units, task_events, tasks

# Sequence numbers for a file's events until the database gives them theirs: above any stored one.
_PROVISIONAL = 10**15
# Tasks replayed and written together once the file has been read.
CHUNK = 2000
# A staged event's kind (checked when its line was read) → its Kind, without Enum's lookup.
_KINDS = {kind.value: kind for kind in Kind}


def finish(run: ImportRun) -> None:
    """Once the file is read: each touched task replayed, then the staged rows into the real tables."""
    if run.missing:
        refuse_missing(run)
    staging.analyze(run.conn)
    touched = union(select(import_tasks.c.id.label("id")), select(import_events.c.task_id.label("id")))
    ids = list(run.conn.execute(select(touched.subquery().c.id).order_by("id")).scalars().all())
    for part in chunks(ids, CHUNK):
        _replay_chunk(run, list(part))
    _check_parts(run)
    conn = run.conn
    # The create and assign of each new task, then the file's events in file order (the database's
    # sequence keeps the recorded order).
    for kind in ("create", "assign"):
        conn.execute(
            task_events.insert().from_select(
                ["task_id", "kind", "at", "by", "note", "rejected", "recorded_at"],
                select(
                    import_tasks.c.id,
                    literal(kind),
                    import_tasks.c.assigned_at,
                    literal("import"),
                    literal(""),
                    literal(False),
                    literal(run.stamp),
                ).order_by(import_tasks.c.line),
            )
        )
    conn.execute(
        task_events.insert().from_select(
            ["task_id", "kind", "at", "by", "note", "rejected", "recorded_at", "due_at"],
            select(
                import_events.c.task_id,
                import_events.c.kind,
                import_events.c.at,
                import_events.c.by,
                import_events.c.note,
                import_events.c.rejected,
                literal(run.stamp),
                import_events.c.due_at,
            ).order_by(import_events.c.line),
        )
    )


def _replay_chunk(run: ImportRun, ids: list[str]) -> None:
    """The tasks ids (a sorted run of the touched ones) replayed; new ones staged for the real table."""
    conn = run.conn
    new, staged = _staged_rows(run, ids)
    stored_ids = [i for i in ids if i not in new]
    stored = repo.tasks_by_id(conn, stored_ids)
    stored_events = repo.events_of(conn, stored_ids)
    task_rows: list[dict[str, Any]] = []
    co_rows: list[dict[str, Any]] = []
    rejected_lines: list[int] = []
    for task_id in ids:
        events = staged.get(task_id, [])
        before = _history(
            run, task_id, new.get(task_id), stored.get(task_id), stored_events.get(task_id, []), events
        )
        result = _replay(run, task_id, before, events)
        rejected_lines += [seq - _PROVISIONAL for seq in result.rejected if seq >= _PROVISIONAL]
        if task_id in new:
            row = new[task_id]
            task_rows.append(_task_row(run, row, result))
            if row.co_units != "[]":
                co_rows += [{"task_id": row.id, "unit_id": u} for u in json.loads(row.co_units)]
        else:
            _update_stored(run, stored[task_id], stored_events.get(task_id, []), result)
    staging.insert(conn, tasks, task_rows)
    staging.insert(conn, task_co_units, co_rows)
    if rejected_lines:
        conn.execute(
            update(import_events).where(import_events.c.line == bindparam("l")).values(rejected=True),
            [{"l": line} for line in rejected_lines],
        )


def _staged_rows(run: ImportRun, ids: list[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The staged new tasks among ids by id, and the staged events of ids by task, in file order."""
    conn = run.conn
    # ids are a sorted run of the touched tasks: the staged rows of exactly these are a range.
    first, last = ids[0], ids[-1]
    query = select(import_tasks).where(import_tasks.c.id >= first, import_tasks.c.id <= last)
    new = {row.id: row for row in conn.execute(query).all()}
    staged: dict[str, list[Any]] = {}
    staged_c = import_events.c
    query = select(import_events).where(staged_c.task_id >= first, staged_c.task_id <= last)
    for row in conn.execute(query.order_by(staged_c.line)).all():
        staged.setdefault(row.task_id, []).append(row)
    return new, staged


def _task_row(run: ImportRun, row: Any, result: Replay) -> dict[str, Any]:
    """A new task's row for the real table, as its replay leaves it."""
    return {
        "id": row.id,
        "title": row.title,
        "task_type": row.task_type,
        "source": row.source,
        "lead_unit": row.lead_unit,
        "priority": row.priority,
        "assigned_at": row.assigned_at,
        "due_at": row.due_at,
        "due_given": row.due_given,
        "created_at": run.stamp,
        "updated_at": run.stamp,
        "version": 1,
        "record": row.record,
        "responsible": row.responsible,
        "leader": row.leader,
        "parent": row.parent,
        **derived(result),
    }


def _update_stored(run: ImportRun, before: repo.TaskRow, events: list[repo.EventRow], result: Replay) -> None:
    """A stored task as its replay with the file's events leaves it; refused if it changed meanwhile."""
    repo.set_rejected(
        run.conn,
        {
            e.seq: e.seq in result.rejected
            for e in events
            if e.kind == "report" and e.rejected != (e.seq in result.rejected)
        },
    )
    values = {"updated_at": run.stamp, **derived(result)}
    if not repo.update_task(run.conn, before.id, expected_version=before.version, values=values):
        raise StaleEtag(f"任务 {before.id} 在导入期间被改动；请重新导入该文件")


# A task's history before the file's events, its assignment instant and its own due instant (or None).
_Before = tuple[list[Event], datetime, int | None]


def _history(
    run: ImportRun,
    task_id: str,
    new: Any,
    stored: repo.TaskRow | None,
    stored_events: list[repo.EventRow],
    staged: list[Any],
) -> _Before:
    """A task's history before the file's events (a new one's create and assign), and its own due."""
    if new is not None:
        assigned = from_epoch(new.assigned_at, run.tz)
        history = [
            Event(seq=_PROVISIONAL - 2, kind=Kind.CREATE, at=assigned),
            Event(seq=_PROVISIONAL - 1, kind=Kind.ASSIGN, at=assigned),
        ]
        return history, assigned, new.due_at
    assert stored is not None
    if stored.assigned_at is None:
        raise line_error(staged[0].line, "task", f"任务 {task_id!r} 尚未交办")
    own = own_due(
        stored.record,
        task_type=stored.task_type,
        assigned_at=stored.assigned_at,
        scheme=run.scheme,
        calendar=run.calendar,
    )
    return domain_events(stored_events, tz=run.tz), from_epoch(stored.assigned_at, run.tz), own


def _replay(run: ImportRun, task_id: str, before: _Before, staged: list[Any]) -> Replay:
    """The task's history with the file's events replayed; a refused event named by its line."""
    history, assigned, own = before
    due = from_epoch(own, run.tz) if own is not None else None
    lines = {}
    for row in staged:
        at = from_epoch(row.at, run.tz)
        if at < assigned:
            raise line_error(
                row.line, "at", f"{at.isoformat()} 早于任务的交办时间 assigned_at {assigned.isoformat()}"
            )
        seq = _PROVISIONAL + row.line
        extended = from_epoch(row.due_at, run.tz) if row.due_at is not None else None
        history.append(
            Event(seq=seq, kind=_KINDS[row.kind], at=at, by=row.by, note=row.note, due_at=extended)
        )
        lines[seq] = row.line
    try:
        return replay(history, lenient=True, due_at=due)
    except InvalidTransition:
        _refuse_culprit(task_id, history, due, lines)
        raise


def _refuse_culprit(task_id: str, history: list[Event], due: Any, lines: dict[int, int]) -> None:
    """Refuses the first event of history its replay fails on, by its line when it is one of the file's."""
    ordered = sorted(history, key=lambda e: (e.at, e.seq))
    for end in range(1, len(ordered) + 1):
        try:
            replay(ordered[:end], lenient=True, due_at=due)
        except InvalidTransition as exc:
            culprit = ordered[end - 1]
            where = lines.get(culprit.seq)
            # replay() names the event by its sequence number, which for a line of the file is
            # a provisional one nobody has seen: name it by kind and instant instead.
            rule = str(exc.__cause__ or exc)
            kind = label_of(TASK_EVENT_KINDS, culprit.kind)
            message = f"任务 {task_id} 在 {culprit.at.isoformat()} 的{kind}：{rule}"
            if where is None:
                raise InvalidArgument("task", message) from None
            raise line_error(where, "kind", message) from None


def _check_parts(run: ImportRun) -> None:
    """A report or close in the file on a task with parts: every part reported / closed by then."""
    e, part = import_events.c, tasks.alias("part")
    not_done = or_(
        and_(e.kind == "report", or_(part.c.reported_at.is_(None), part.c.reported_at > e.at)),
        and_(e.kind == "close", or_(part.c.closed_at.is_(None), part.c.closed_at > e.at)),
    )
    query = (
        select(e.line, e.task_id, e.kind, part.c.id)
        .select_from(import_events.join(part, part.c.parent == e.task_id))
        .where(e.kind.in_(("report", "close")), part.c.cancelled_at.is_(None), not_done)
        .order_by(e.line, part.c.id)
        .limit(1)
    )
    row = run.conn.execute(query).first()
    if row is not None:
        done = "反馈" if row.kind == "report" else "销号"
        raise line_error(
            row.line,
            "kind",
            f"任务 {row.task_id!r} 有分解的子任务，子任务 {row.id!r} 此时尚未{done}："
            f"全部子任务{done}后才能{done}",
        )
    # A part added to a task already reported or closed would leave it so without the part done.
    parent = tasks.alias("parent")
    late = or_(
        and_(
            parent.c.reported_at.is_not(None),
            or_(part.c.reported_at.is_(None), part.c.reported_at > parent.c.reported_at),
        ),
        and_(
            parent.c.closed_at.is_not(None),
            or_(part.c.closed_at.is_(None), part.c.closed_at > parent.c.closed_at),
        ),
    )
    query = (
        select(import_tasks.c.line, part.c.id, parent.c.id.label("parent_id"))
        .select_from(
            import_tasks.join(part, part.c.id == import_tasks.c.id).join(parent, parent.c.id == part.c.parent)
        )
        .where(part.c.cancelled_at.is_(None), late)
        .order_by(import_tasks.c.line)
        .limit(1)
    )
    late_part = run.conn.execute(query).first()
    if late_part is not None:
        raise line_error(
            late_part.line,
            "parent",
            f"上级任务 {late_part.parent_id!r} 已反馈或销号，不能再分解出未完成的子任务 {late_part.id!r}",
        )
