"""A prefecture's year written straight into the tasks tables, for the run at scale."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

BATCH = 100_000


def _batches(*, units: int, tasks: int, seed: int) -> Iterator[dict[str, Any]]:
    """The tasks in batches of columns: lead units, priorities, instants, co-units (15 % of tasks)."""
    rng = np.random.default_rng(seed)
    start = int(datetime(2025, 1, 1).timestamp())
    for lo in range(0, tasks, BATCH):
        n = min(BATCH, tasks - lo)
        assigned = start + rng.integers(0, 330 * 86400, n)
        due = assigned + rng.integers(3600, 20 * 86400, n)
        late = rng.random(n)
        reported = np.where(late < 0.8, due - 3600, due + rng.integers(1, 10 * 86400, n))
        lead = rng.integers(0, units, n)
        co = np.flatnonzero(rng.random(n) < 0.15)
        yield {
            "ids": [f"T{lo + k}" for k in range(n)],
            "lead": [f"u{u}" for u in lead.tolist()],
            "priority": ["important" if k % 5 == 0 else "normal" for k in range(n)],
            "assigned": assigned.tolist(),
            "due": due.tolist(),
            "reported": reported.tolist(),
            "co": [(f"T{lo + k}", f"u{(lead[k] + 1) % units}") for k in co.tolist()],
            "start": start,
        }


def _units(units: int, start: int) -> list[tuple[str, str, str, int]]:
    return [(f"u{i}", f"单位{i}", "department" if i % 3 else "township", start) for i in range(units)] + [
        ("czj", "财政局", "department", start)
    ]


def fill_tasks_db(url: str, *, units: int, tasks: int, seed: int = 11) -> None:
    """A year of a prefecture written straight into the tasks tables, reports included: COPY on
    PostgreSQL, Core bulk inserts on SQLite."""
    if url.startswith("sqlite"):
        _fill_sqlite(url, units=units, tasks=tasks, seed=seed)
        return
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    options = str(parsed.query.get("options", ""))
    dsn = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    start = int(datetime(2025, 1, 1).timestamp())
    task_columns = (
        "id, title, task_type, source, lead_unit, priority, state, assigned_at, due_at, due_given, "
        "reported_at, created_at, updated_at, version, record"
    )
    event_columns = "task_id, kind, at, by, note, rejected, recorded_at"
    with psycopg.connect(dsn, options=options) as conn, conn.cursor() as cursor:
        with cursor.copy("COPY units (id, name, category, created_at) FROM STDIN") as copy:
            for unit in _units(units, start):
                copy.write_row(unit)
        for batch in _batches(units=units, tasks=tasks, seed=seed):
            reported = batch["reported"]
            rows = zip(
                batch["ids"],
                batch["lead"],
                batch["priority"],
                batch["assigned"],
                batch["due"],
                reported,
                strict=True,
            )
            with cursor.copy(f"COPY tasks ({task_columns}) FROM STDIN") as copy:
                for task, lead, priority, assigned, due, at in rows:
                    fixed = ("", "leader_directive", "", lead, priority, "reported", assigned, due, True, at)
                    copy.write_row((task, *fixed, start, start, 1, ""))
            with cursor.copy(f"COPY task_events ({event_columns}) FROM STDIN") as copy:
                for task, at in zip(batch["ids"], reported, strict=True):
                    copy.write_row((task, "report", at, "", "", False, start))
            with cursor.copy("COPY task_co_units (task_id, unit_id) FROM STDIN") as copy:
                for pair in batch["co"]:
                    copy.write_row(pair)
        conn.commit()
        cursor.execute("ANALYZE tasks")
        cursor.execute("ANALYZE task_co_units")
        cursor.execute("ANALYZE task_events")
        conn.commit()


def _fill_sqlite(url: str, *, units: int, tasks: int, seed: int) -> None:
    from sqlalchemy import create_engine, insert

    from services.tasks.storage.tables import task_co_units, task_events
    from services.tasks.storage.tables import tasks as task_table
    from services.tasks.storage.tables import units as unit_table

    engine = create_engine(url)
    with engine.begin() as conn:
        start = int(datetime(2025, 1, 1).timestamp())
        keys = ("id", "name", "category", "created_at")
        conn.execute(insert(unit_table), [dict(zip(keys, u, strict=True)) for u in _units(units, start)])
        for batch in _batches(units=units, tasks=tasks, seed=seed):
            rows = [
                {
                    "id": task,
                    "title": "",
                    "task_type": "leader_directive",
                    "source": "",
                    "lead_unit": lead,
                    "priority": priority,
                    "state": "reported",
                    "assigned_at": assigned,
                    "due_at": due,
                    "due_given": True,
                    "reported_at": at,
                    "created_at": start,
                    "updated_at": start,
                    "version": 1,
                    "record": "",
                }
                for task, lead, priority, assigned, due, at in zip(
                    batch["ids"],
                    batch["lead"],
                    batch["priority"],
                    batch["assigned"],
                    batch["due"],
                    batch["reported"],
                    strict=True,
                )
            ]
            conn.execute(insert(task_table), rows)
            conn.execute(
                insert(task_events),
                [
                    {
                        "task_id": r["id"],
                        "kind": "report",
                        "at": r["reported_at"],
                        "by": "",
                        "note": "",
                        "rejected": False,
                        "recorded_at": start,
                    }
                    for r in rows
                ],
            )
            if batch["co"]:
                conn.execute(insert(task_co_units), [{"task_id": t, "unit_id": u} for t, u in batch["co"]])
    engine.dispose()
