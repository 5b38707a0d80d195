"""The tasks service's timeliness facts as columns, read in chunks: every row once, in key order, exact."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert, text

from services.common.db import Database, migrate
from services.common.packed import Strings
from services.common.scheme import Scheme
from services.common.timeutil import NO_TIME
from services.tasks.__main__ import MIGRATIONS
from services.tasks.facts import TaskFacts
from services.tasks.storage import fact_columns
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import task_co_units, task_events, tasks, units
from tests.conftest import Databases

DAY = 86_400
START = 1_735_660_800  # 2025-01-01T00:00:00+08:00
AS_OF = START + 300 * DAY


def filled(databases: Databases) -> Database:
    db = Database(databases.url("tasks"), sequence="tasks_change_sequence")
    migrate(db, MIGRATIONS, service="tasks")
    ids = ["T1", "T10", "T2", "T3\\x", "T4", "T5", "T6"]
    with db.write() as conn:
        conn.execute(
            insert(units),
            [{"id": u, "name": u, "category": "department", "created_at": START} for u in ("u1", "u2", "u3")],
        )
        for k, task in enumerate(ids):
            due = START + (k + 1) * DAY
            conn.execute(
                insert(tasks).values(
                    id=task,
                    title="",
                    task_type="leader_directive",
                    source="",
                    lead_unit=("u1", "u2", "u3")[k % 3],
                    priority="重要" if k % 2 else "normal",
                    state="reported",
                    assigned_at=None if task == "T6" else due - DAY,
                    due_at=due,
                    due_given=k % 2 == 0,
                    # T4's stored report came after the cutoff: the earlier one counts.
                    reported_at=AS_OF + DAY if task == "T4" else (None if task == "T5" else due - 60),
                    cancelled_at=due if task == "T10" else None,
                    created_at=START,
                    updated_at=START,
                    version=1,
                    record="",
                )
            )
        conn.execute(
            insert(task_events),
            [
                {"task_id": "T4", "kind": "report", "at": at, "by": "", "note": "", "rejected": False}
                | {"recorded_at": START}
                for at in (START + 2 * DAY, AS_OF + DAY)
            ],
        )
        conn.execute(
            insert(task_co_units),
            [{"task_id": t, "unit_id": u} for t, u in (("T1", "u2"), ("T1", "u3"), ("T2", "u1"))],
        )
    return db


def test_facts_come_in_bounded_chunks_every_row_once_in_key_order(
    databases: Databases, example_scheme: Scheme
) -> None:
    db = filled(databases)
    try:
        chunks = list(
            TaskFacts(db, example_scheme).timeliness_facts(
                due_from=START, due_before=START + 365 * DAY, as_of=AS_OF, chunk_size=2
            )
        )
    finally:
        db.dispose()
    assert [len(c["due_at"]) for c in chunks] == [2, 2, 2, 2, 1]
    rows = []
    for chunk in chunks:
        columns = {k: v.decode() if isinstance(v, Strings) else np.asarray(v) for k, v in chunk.items()}
        rows += list(
            zip(*(columns[k].tolist() for k in ("task_id", "unit", "is_lead", "reported_at")), strict=True)
        )
    day = {t: START + (k + 1) * DAY for k, t in enumerate(["T1", "T10", "T2", "T3\\x", "T4", "T5", "T6"])}
    # Lead rows in id order (T6 was never assigned), then co-unit rows by (task, unit).
    assert [r[0] for r in rows[:6]] == ["T1", "T10", "T2", "T3\\x", "T4", "T5"]
    assert [(r[0], r[1], r[2]) for r in rows[6:]] == [
        ("T1", "u2", False),
        ("T1", "u3", False),
        ("T2", "u1", False),
    ]
    reported = {r[0]: r[3] for r in rows[:6]}
    assert reported["T4"] == START + 2 * DAY
    assert reported["T5"] == NO_TIME
    assert reported["T1"] == day["T1"] - 60
    first = chunks[0]
    assert np.asarray(first["cancelled_at"]).tolist()[1] == day["T10"]
    assert np.asarray(first["due_given"]).tolist() == [True, False]
    assert first["priority"].decode().tolist() == ["normal", "重要"]  # type: ignore[union-attr]


def test_an_imports_statistics_commit_with_its_rows(databases: Databases) -> None:
    db = Database(databases.url("tasks"), sequence="tasks_change_sequence")
    migrate(db, MIGRATIONS, service="tasks")
    try:
        with db.write() as conn:
            conn.execute(
                insert(units), [{"id": "u1", "name": "u1", "category": "department", "created_at": START}]
            )
            conn.execute(
                insert(tasks),
                [
                    {"id": f"T{k:03d}", "title": "", "task_type": "leader_directive", "source": ""}
                    | {"lead_unit": "u1", "priority": "normal", "state": "assigned", "record": ""}
                    | {
                        "assigned_at": START,
                        "due_at": START + k * DAY,
                        "created_at": START,
                        "updated_at": START,
                    }
                    for k in range(120)
                ],
            )
            repo.analyze_imported(conn)
        with db.read() as conn:
            if databases.kind == "postgres":
                counted = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass"))
                assert counted.scalar_one() == 120
                stats = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stats WHERE tablename = 'tasks' AND attname = 'due_at' "
                        "AND schemaname = current_schema()"
                    )
                )
                assert stats.scalar_one() == 1
            else:
                assert (
                    conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).all()
                    == []
                )
    finally:
        db.dispose()


def test_a_later_chunk_is_read_by_the_key_index_without_table_statistics(databases: Databases) -> None:
    if databases.kind != "postgres":
        pytest.skip("SQLite reads the lead rows in one statement (fact_columns._fetch)")
    db = filled(databases)
    window = fact_columns._window(
        due_from=START, due_before=AS_OF, as_of=AS_OF, assigned_from=0, assigned_before=0
    )
    try:
        with db.read() as conn:
            assert (
                conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass")
                ).scalar_one()
                == -1
            )
            where = str(window.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            statement = fact_columns.aggregated_statement(where, after=True, limit=2).replace(
                "%(after)s", "'T1'"
            )
            fact_columns.index_order(conn)
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement).scalars())
    finally:
        db.dispose()
    assert "Index Scan using tasks_pkey" in plan
    assert "Sort" not in plan
