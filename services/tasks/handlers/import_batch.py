"""One batch of a ledger import checked and staged: the whole batch at once when it is a common one
(task and event lines, checked as columns by handlers/import_fast.py), else line by line
(handlers/import_lines.py) — which alone words a refusal, so every refusal reads as it always has.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from services.tasks import staging
from services.tasks.handlers import import_fast as fast
from services.tasks.handlers.import_fast import Declined
from services.tasks.handlers.import_lines import check_batch, known_events, known_tasks
from services.tasks.handlers.import_run import ImportRun, Seen
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage import repository as repo

TASK_COLUMNS = (
    "id",
    "line",
    "title",
    "task_type",
    "source",
    "lead_unit",
    "co_units",
    "priority",
    "assigned_at",
    "due_at",
    "due_given",
    "record",
)
EVENT_COLUMNS = ("line", "task_id", "kind", "at", "by", "note", "rejected")


def check(run: ImportRun, lines: list[tuple[int, str]]) -> None:
    """A batch of lines checked in file order, against the store and the lines before; staged when good."""
    if not _at_once(run, lines):
        check_batch(run, lines)
    run.batches += 1
    if run.batches & (run.batches - 1) == 0:
        # Statistics as the tables grow (after 1, 2, 4, … batches): lookups by id keep to the index.
        staging.analyze(run.conn)


def _at_once(run: ImportRun, lines: list[tuple[int, str]]) -> bool:
    """The batch checked and staged as columns; False (nothing staged or counted) when it is not for them."""
    if run.missing or not lines:
        return False
    try:
        objs = fast.decode(lines)
        types = [obj.get("type") for obj in objs]
        task_k = [k for k, t in enumerate(types) if t == "task"]
        event_k = [k for k, t in enumerate(types) if t == "task_event"]
        if len(task_k) + len(event_k) != len(objs):
            raise Declined
        tasks = fast.task_columns(run, [objs[k] for k in task_k])
        events = fast.event_columns([objs[k] for k in event_k])
    except Declined:
        return False
    numbers = [n for n, _ in lines]
    tasks["line"] = [numbers[k] for k in task_k]
    events["line"] = [numbers[k] for k in event_k]
    if not _units_known(run, tasks):
        return False
    known = known_tasks(run, set(tasks["id"]) | set(events["task"]))
    # A task this batch creates has no events before it: only the others' events are looked up.
    seen = known_events(run, set(events["task"]) - (set(tasks["id"]) - known.keys()))
    unchanged: Counter[str] = Counter()
    task_rows = _task_rows(run, tasks, known, unchanged)
    if task_rows is None:
        return False
    event_rows = _event_rows(tasks, events, known, seen, unchanged)
    if event_rows is None:
        return False
    staging.insert_rows(run.conn, import_tasks, TASK_COLUMNS, task_rows)
    staging.insert_rows(run.conn, import_events, EVENT_COLUMNS, event_rows)
    run.created.update(+Counter({"task": len(task_rows), "task_event": len(event_rows)}))
    run.unchanged.update(unchanged)
    return True


def _units_known(run: ImportRun, tasks: dict[str, Any]) -> bool:
    """Every lead and co-unit stored or on an earlier line (the stored ones looked up once)."""
    wanted = set(tasks["lead_unit"]).union(*tasks["co_units"]) - run.units.keys()
    for unit_id, (name, category) in repo.units_by_id(run.conn, wanted).items():
        run.units[unit_id] = (name, category, 0)
    run.unit_parents |= repo.unit_parents(run.conn, wanted - run.unit_parents.keys())
    return wanted <= run.units.keys()


def _task_rows(
    run: ImportRun, tasks: dict[str, Any], known: dict[str, tuple[str, int]], counts: Counter[str]
) -> list[tuple[Any, ...]] | None:
    """The new tasks' staged rows, a known one counted unchanged; None when one changed."""
    rows: list[tuple[Any, ...]] = []
    for task_id, line, title, task_type, lead, co, priority, assigned, given, source in zip(
        tasks["id"],
        tasks["line"],
        tasks["title"],
        tasks["task_type"],
        tasks["lead_unit"],
        tasks["co_units"],
        tasks["priority"],
        tasks["assigned_at"],
        tasks["due_at"],
        tasks["source"],
        strict=True,
    ):
        record = fast.canonical(
            id=task_id,
            title=title,
            task_type=task_type,
            lead_unit=lead,
            co_units=co,
            priority=priority,
            assigned_at=assigned,
            due_at=given,
            source=source,
        )
        before = known.get(task_id)
        if before is not None:
            if before[0] != record:
                return None
            counts["task"] += 1
            continue
        known[task_id] = (record, line)
        due = fast.due_of(run, task_type, assigned, given)
        co_text = json.dumps(co, ensure_ascii=False) if co else "[]"
        row = (
            task_id,
            line,
            title,
            task_type,
            source,
            lead,
            co_text,
            priority,
            assigned,
            due,
            given is not None,
        )
        rows.append((*row, record))
    return rows


def _event_rows(
    tasks: dict[str, Any],
    events: dict[str, Any],
    known: dict[str, tuple[str, int]],
    seen: dict[tuple[str, str, int], Seen],
    counts: Counter[str],
) -> list[tuple[Any, ...]] | None:
    """The new events' staged rows, a known one counted unchanged; None when one is for the line by line
    checks (a task not defined before it, a changed event)."""
    defined = dict(zip(tasks["id"], tasks["line"], strict=True))
    rows: list[tuple[Any, ...]] = []
    for line, task_id, kind, at, by, note in zip(
        events["line"],
        events["task"],
        events["kind"],
        events["at"],
        events["by"],
        events["note"],
        strict=True,
    ):
        if task_id not in known or defined.get(task_id, line) > line:
            return None
        key = (task_id, kind, at)
        before = seen.get(key)
        if before is not None:
            if (before[0], before[1], before[3]) != (by, note, None):
                return None
            counts["task_event"] += 1
            continue
        seen[key] = (by, note, line, None)
        rows.append((line, task_id, kind, at, by, note, False))
    return rows
