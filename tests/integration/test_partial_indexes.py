"""The lookups by parent, by 责任人 and by event kind still go through their indexes, which on PostgreSQL
leave out the rows they cannot find (migration 0015): each query's own condition proves it lies inside."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, insert, or_, select, text

from services.common.db import Database, migrate
from services.tasks.staging import import_events
from services.tasks.storage.tables import task_events, tasks, units
from tests.conftest import Databases
from tests.integration.test_people_migration import MIGRATIONS
from tests.integration.test_references import event_row, task_row


@pytest.fixture
def db(databases: Databases) -> Iterator[Database]:
    database = Database(databases.url("partial"))
    migrate(database, MIGRATIONS, service="tasks")
    with database.write() as conn:
        conn.execute(insert(units).values(id="fgj", name="发改局", category="department", created_at=1))
        rows = [{**task_row(f"T{i:05d}", "fgj"), "parent": None, "responsible": None} for i in range(3000)]
        rows[1]["parent"], rows[2]["parent"], rows[3]["responsible"] = "T00000", "T00000", "P1"
        conn.execute(insert(tasks), rows)
        events = [event_row(row["id"], kind) for row in rows for kind in ("create", "assign")]  # type: ignore[arg-type]
        events += [event_row("T00001", "report"), event_row("T00002", "extend")]
        conn.execute(insert(task_events), events)
        if database.is_sqlite:
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE tasks"))
            conn.execute(text("ANALYZE task_events"))
    yield database
    database.dispose()


def _plan(db: Database, query: Any) -> str:
    """The plan of query, sequential scans ruled out where the planner would otherwise weigh one."""
    with db.read() as conn:
        return _explain(db, conn, query)


def _explain(db: Database, conn: Any, query: Any) -> str:
    sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
    if db.is_sqlite:
        return "\n".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))


def test_a_tasks_parts_and_a_persons_tasks_are_found_through_their_indexes(db: Database) -> None:
    assert "ix_tasks_parent" in _plan(db, select(tasks.c.id).where(tasks.c.parent == "T00000"))
    person = select(tasks.c.id).where(or_(tasks.c.responsible.in_(["P1"]), tasks.c.leader.in_(["P1"])))
    assert "ix_tasks_responsible" in _plan(db, select(tasks.c.id).where(tasks.c.responsible.in_(["P1"])))
    with db.read() as conn:
        assert conn.execute(person).scalars().all() == ["T00003"]
        assert conn.execute(select(func.count()).where(tasks.c.parent == "T00000")).scalar_one() == 2


def test_events_of_a_kind_are_found_through_the_kind_index(db: Database) -> None:
    for kinds in (["report"], ["report", "verify"], ["extend"]):
        query = select(task_events.c.task_id).where(task_events.c.kind.in_(kinds))
        assert "ix_task_events_report" in _plan(db, query), kinds
    with db.read() as conn:
        extended = select(task_events.c.task_id).where(task_events.c.kind == "extend")
        assert conn.execute(extended).scalars().all() == ["T00002"]


def test_the_join_by_parent_of_the_imports_check_of_parts_uses_the_index(db: Database) -> None:
    part = tasks.alias("part")
    with db.write() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE kaohe_import_events (line int, task_id text, kind text)"))
        conn.execute(text("INSERT INTO kaohe_import_events VALUES (1, 'T00000', 'report')"))
        query = select(import_events.c.line, part.c.id).select_from(
            import_events.join(part, part.c.parent == import_events.c.task_id)
        )
        plan = _explain(db, conn, query)
        # SQLite (whole index) weighs the staging table it knows nothing of as the larger one, scans tasks.
        assert db.is_sqlite or "ix_tasks_parent" in plan, plan
        assert sorted(conn.execute(query).all()) == [(1, "T00001"), (1, "T00002")]
        conn.execute(text("DROP TABLE kaohe_import_events"))
