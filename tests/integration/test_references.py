"""The database refuses a task, event or co-unit naming a unit or task it does not hold, and a task or unit
going away: by foreign keys on SQLite, by per-statement checks on PostgreSQL (migration 0014)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.common.db import Database, migrate
from services.tasks.storage.tables import task_co_units, task_events, tasks, units
from tests.conftest import Databases
from tests.integration.test_people_migration import MIGRATIONS


@pytest.fixture
def db(databases: Databases) -> Iterator[Database]:
    database = Database(databases.url("references"))
    migrate(database, MIGRATIONS, service="tasks")
    with database.write() as conn:
        conn.execute(
            insert(units),
            [
                {"id": u, "name": n, "category": "department", "created_at": 1}
                for u, n in (("fgj", "发改局"), ("czj", "财政局"))
            ],
        )
        conn.execute(insert(tasks), [task_row("T1", "fgj"), task_row("T2", "czj")])
        conn.execute(insert(task_events), [event_row("T1", "create"), event_row("T2", "create")])
    yield database
    database.dispose()


def task_row(task_id: str, unit: str) -> dict[str, object]:
    return {
        "id": task_id,
        "title": "事项",
        "task_type": "leader_directive",
        "source": "",
        "lead_unit": unit,
        "priority": "normal",
        "state": "created",
        "due_given": False,
        "created_at": 1,
        "updated_at": 1,
        "version": 1,
        "record": "{}",
    }


def event_row(task_id: str, kind: str) -> dict[str, object]:
    return {
        "task_id": task_id,
        "kind": kind,
        "at": 1,
        "by": "",
        "note": "",
        "rejected": False,
        "recorded_at": 1,
    }


def _counts(conn: Connection) -> tuple[int, int, int]:
    return (
        conn.execute(select(func.count()).select_from(tasks)).scalar_one(),
        conn.execute(select(func.count()).select_from(task_events)).scalar_one(),
        conn.execute(select(func.count()).select_from(task_co_units)).scalar_one(),
    )


@pytest.mark.parametrize(
    ("table", "rows"),
    [
        (tasks, [task_row("T3", "fgj"), task_row("T4", "nosuch")]),
        (task_events, [event_row("T1", "assign"), event_row("T9", "assign")]),
        (task_co_units, [{"task_id": "T1", "unit_id": "czj"}, {"task_id": "T1", "unit_id": "nosuch"}]),
        (task_co_units, [{"task_id": "T2", "unit_id": "fgj"}, {"task_id": "T9", "unit_id": "fgj"}]),
    ],
    ids=["task-unit", "event-task", "co-unit-unit", "co-unit-task"],
)
def test_a_row_naming_what_is_not_there_is_refused_with_its_whole_statement(
    db: Database, table: object, rows: list[dict[str, object]]
) -> None:
    with db.read() as conn:
        before = _counts(conn)
    with pytest.raises(IntegrityError), db.write() as conn:
        conn.execute(insert(table), rows)  # type: ignore[arg-type]
    with db.read() as conn:
        assert _counts(conn) == before


def test_rows_naming_what_is_there_are_stored_in_bulk_and_one_by_one(db: Database) -> None:
    with db.write() as conn:
        conn.execute(insert(tasks), [task_row(f"B{i}", "czj") for i in range(500)])
        conn.execute(
            text(
                "INSERT INTO task_events (task_id, kind, at, by, note, rejected, recorded_at) "
                "SELECT id, 'assign', 2, 'import', '', false, 2 FROM tasks WHERE id LIKE 'B%'"
            )
        )
        conn.execute(insert(task_co_units).values(task_id="B1", unit_id="fgj"))
    with db.read() as conn:
        assert _counts(conn) == (502, 502, 1)


def test_a_task_or_unit_with_rows_naming_it_is_not_deleted_nor_renamed(db: Database) -> None:
    for statement in (
        tasks.delete().where(tasks.c.id == "T1"),
        units.delete().where(units.c.id == "fgj"),
        update(tasks).where(tasks.c.id == "T1").values(id="T1-renamed"),
        update(units).where(units.c.id == "fgj").values(id="fgj-renamed"),
    ):
        with pytest.raises(IntegrityError), db.write() as conn:
            conn.execute(statement)
    with db.read() as conn:
        assert conn.execute(select(tasks.c.id).order_by(tasks.c.id)).scalars().all() == ["T1", "T2"]
        assert conn.execute(select(units.c.id).order_by(units.c.id)).scalars().all() == ["czj", "fgj"]


def test_updates_that_keep_the_id_pass(db: Database) -> None:
    with db.write() as conn:
        conn.execute(update(tasks).where(tasks.c.id == "T1").values(state="assigned", version=2))
        conn.execute(update(units).where(units.c.id == "fgj").values(name="发展和改革委员会"))
    with db.read() as conn:
        assert conn.execute(select(tasks.c.state).where(tasks.c.id == "T1")).scalar_one() == "assigned"
