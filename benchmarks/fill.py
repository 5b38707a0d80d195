"""A prefecture's year written straight into the tasks tables, for the run at scale."""

from __future__ import annotations

from datetime import datetime

import numpy as np


def fill_tasks_db(url: str, *, units: int, tasks: int, seed: int = 11) -> None:
    """A year of a prefecture written straight into the tasks tables (Core bulk inserts), reports included."""
    from sqlalchemy import create_engine, insert

    from services.tasks.storage.tables import task_co_units, task_events
    from services.tasks.storage.tables import tasks as task_table
    from services.tasks.storage.tables import units as unit_table

    rng = np.random.default_rng(seed)
    start = int(datetime(2025, 1, 1).timestamp())
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(unit_table),
            [
                {
                    "id": f"u{i}",
                    "name": f"单位{i}",
                    "category": "department" if i % 3 else "township",
                    "created_at": start,
                }
                for i in range(units)
            ]
            + [{"id": "czj", "name": "财政局", "category": "department", "created_at": start}],
        )
        for lo in range(0, tasks, 100_000):
            n = min(100_000, tasks - lo)
            assigned = start + rng.integers(0, 330 * 86400, n)
            due = assigned + rng.integers(3600, 20 * 86400, n)
            late = rng.random(n)
            reported = np.where(late < 0.8, due - 3600, due + rng.integers(1, 10 * 86400, n))
            lead = rng.integers(0, units, n)
            rows = [
                {
                    "id": f"T{lo + k}",
                    "title": "",
                    "task_type": "leader_directive",
                    "source": "",
                    "lead_unit": f"u{lead[k]}",
                    "priority": "important" if k % 5 == 0 else "normal",
                    "state": "reported",
                    "assigned_at": int(assigned[k]),
                    "due_at": int(due[k]),
                    "due_given": True,
                    "reported_at": int(reported[k]),
                    "created_at": start,
                    "updated_at": start,
                    "version": 1,
                    "record": "",
                }
                for k in range(n)
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
            co = rng.random(n) < 0.15
            conn.execute(
                insert(task_co_units),
                [
                    {"task_id": f"T{lo + k}", "unit_id": f"u{(lead[k] + 1) % units}"}
                    for k in np.flatnonzero(co).tolist()
                ],
            )
    engine.dispose()
