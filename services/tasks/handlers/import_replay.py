"""The ledger import once the file is read: each touched task's history replayed, the staged rows written.

A bounded chunk of tasks at a time, set-based, in the import's one transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union,
    update,
)

from services.common.db import among, chunks
from services.common.errors import InvalidArgument, InvalidTransition, StaleEtag
from services.common.timeutil import from_epoch
from services.common.vocabulary import TASK_EVENT_KINDS, label_of
from services.tasks import staging
from services.tasks.domain import Event, Kind, Replay, State, replay
from services.tasks.handlers.import_parts import check_parts
from services.tasks.handlers.import_run import ImportRun, line_error, refuse_missing
from services.tasks.history import derived, domain_events, own_due
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import task_co_units, task_events, tasks

# Sequence numbers for a file's events until the database gives them theirs: above any stored one.
_PROVISIONAL = 10**15
# Tasks replayed and written together once the file has been read.
CHUNK = 2000
# The kinds of a history replayed in SQL (_replayed_at_once), and the columns it fills.
_SIMPLE = (Kind.ACCEPT.value, Kind.PROGRESS.value, Kind.REPORT.value)
_TASK_INSERT = [
    "id",
    "title",
    "task_type",
    "source",
    "lead_unit",
    "priority",
    "state",
    "assigned_at",
    "due_at",
    "due_given",
    "reported_at",
    "created_at",
    "updated_at",
    "version",
    "record",
    "responsible",
    "leader",
    "parent",
]
# A staged event's kind (checked when its line was read) → its Kind, without Enum's lookup.
_KINDS = {kind.value: kind for kind in Kind}


def finish(run: ImportRun) -> None:
    """Once the file is read: each touched task replayed, then the staged rows into the real tables."""
    if run.missing:
        refuse_missing(run)
    staging.analyze(run.conn)
    conn = run.conn
    if conn.dialect.name == "postgresql":
        # The statements below each move every row once: compiling them (JIT, on for a prefecture's costs)
        # takes longer than it saves.
        conn.execute(text("SET LOCAL jit = off"))
    conn.execute(tasks.insert().from_select(_TASK_INSERT, _replayed_at_once(run)))
    # The rest: new tasks whose history is more than accepts and reports, stored ones the file adds events to.
    # (A new task's id is never a stored one's: its line would have been found unchanged or refused.)
    # NOT EXISTS, not NOT IN: PostgreSQL hashes a NOT IN subquery only when it fits in work_mem, else it reads
    # the subquery again for every row (a province's 10M tasks: hours); the anti-join spills instead.
    stored = select(import_events.c.task_id.label("id")).where(
        ~exists(select(import_tasks.c.id).where(import_tasks.c.id == import_events.c.task_id))
    )
    to_replay = union(select(import_tasks.c.id.label("id")).where(exists(_odd())), stored).subquery()
    rest = select(to_replay.c.id).order_by(to_replay.c.id)
    for part in chunks(list(conn.execute(rest).scalars().all()), CHUNK):
        _replay_chunk(run, list(part))
    _insert_co_units(run)
    check_parts(run)
    _insert_events(run)


def _insert_events(run: ImportRun) -> None:
    """The events of the new tasks and the file's, into the real table."""
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


def _replayed_at_once(run: ImportRun) -> Select[Any]:
    """The new tasks whose file events are only accepts, progress and reports, none before the assignment,
    as their replay leaves them — for all of them in one statement. (Such a history cannot fail: each of
    these steps is allowed after the assignment; the task is reported at its latest report, else accepted
    after any of them, else assigned.)"""
    t, e = import_tasks.c, import_events.c
    agg = (
        select(
            e.task_id.label("task_id"),
            func.max(case((e.kind == Kind.REPORT.value, e.at))).label("reported_at"),
            func.count().label("n"),
        )
        .group_by(e.task_id)
        .subquery()
    )
    state = case(
        (agg.c.reported_at.is_not(None), State.REPORTED.value),
        (agg.c.n.is_not(None), State.ACCEPTED.value),
        else_=State.ASSIGNED.value,
    )
    return (
        select(
            t.id,
            t.title,
            t.task_type,
            t.source,
            t.lead_unit,
            t.priority,
            state,
            t.assigned_at,
            t.due_at,
            t.due_given,
            agg.c.reported_at,
            literal(run.stamp),
            literal(run.stamp),
            literal(1),
            t.record,
            t.responsible,
            t.leader,
            t.parent,
        )
        .select_from(import_tasks.outerjoin(agg, agg.c.task_id == t.id))
        .where(~exists(_odd()))
    )


def _odd() -> Select[Any]:
    """A staged event that keeps its new task from _replayed_at_once: of another kind, or before the
    assignment (correlated to the staged task of the enclosing query)."""
    t, e = import_tasks.c, import_events.c
    return select(e.task_id).where(e.task_id == t.id, or_(e.kind.not_in(_SIMPLE), e.at < t.assigned_at))


def _insert_co_units(run: ImportRun) -> None:
    """The co-units of every new task (all of them are in the real table by now)."""
    query = select(import_tasks.c.id, import_tasks.c.co_units).where(import_tasks.c.co_units != "[]")
    found = run.conn.execute(query).all()
    rows = [(task_id, unit) for task_id, co in found for unit in json.loads(co)]
    staging.insert_rows(run.conn, task_co_units, ("task_id", "unit_id"), rows)


def _replay_chunk(run: ImportRun, ids: list[str]) -> None:
    """The tasks ids (a sorted run of the touched ones) replayed; new ones staged for the real table."""
    conn = run.conn
    new, staged = _staged_rows(run, ids)
    stored_ids = [i for i in ids if i not in new]
    stored = repo.tasks_by_id(conn, stored_ids)
    stored_events = repo.events_of(conn, stored_ids)
    task_rows: list[dict[str, Any]] = []
    rejected_lines: list[int] = []
    for task_id in ids:
        events = staged.get(task_id, [])
        before = _history(
            run, task_id, new.get(task_id), stored.get(task_id), stored_events.get(task_id, []), events
        )
        result = _replay(run, task_id, before, events)
        rejected_lines += [seq - _PROVISIONAL for seq in result.rejected if seq >= _PROVISIONAL]
        if task_id in new:
            task_rows.append(_task_row(run, new[task_id], result))
        else:
            _update_stored(run, stored[task_id], stored_events.get(task_id, []), result)
    staging.insert(conn, tasks, task_rows)
    if rejected_lines:
        conn.execute(
            update(import_events).where(import_events.c.line == bindparam("l")).values(rejected=True),
            [{"l": line} for line in rejected_lines],
        )


def _staged_rows(run: ImportRun, ids: list[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The staged new tasks among ids by id, and the staged events of ids by task, in file order."""
    conn = run.conn
    # ids are a sorted run of the touched tasks, the ones replayed at once (_replayed_at_once) among them left
    # out: their staged rows lie in a range, but only theirs are read.
    first, last = ids[0], ids[-1]
    t = import_tasks.c
    query = select(import_tasks).where(t.id >= first, t.id <= last, among(conn, t.id, ids))
    new = {row.id: row for row in conn.execute(query).all()}
    staged: dict[str, list[Any]] = {}
    staged_c = import_events.c
    query = select(import_events).where(
        staged_c.task_id >= first, staged_c.task_id <= last, among(conn, staged_c.task_id, ids)
    )
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
