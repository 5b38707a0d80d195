"""A tasks database of before people and levels keeps its units and tasks, and gains persons and parents."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from services.common.db import Database, migrate
from services.tasks.storage import repository as repo
from tests.conftest import Databases

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "tasks" / "storage" / "migrations"


def test_an_older_tasks_database_is_upgraded_in_place(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(databases.url("before_people"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
            conn.execute(
                text(
                    "INSERT INTO units (id, name, category, created_at) "
                    "VALUES ('fgj', '发改局', 'department', 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO tasks (id, title, task_type, source, lead_unit, priority, state, due_given, "
                    "created_at, updated_at, version, record) VALUES "
                    "('T1', '事项', 'leader_directive', '', 'fgj', 'normal', 'created', false, 1, 1, 1, '{}')"
                )
            )
        migrate(db, MIGRATIONS, service="tasks")
        columns = {c["name"] for c in inspect(db.engine).get_columns("tasks")}
        with db.read() as conn:
            parents = repo.unit_parents(conn, ["fgj"])
            task = repo.get_task(conn, "T1")
            people = repo.list_persons(conn, units_in=None)
    finally:
        db.dispose()
    assert {"responsible", "leader", "parent"} <= columns
    assert parents == {"fgj": ""}
    assert task is not None and (task.responsible, task.leader, task.parent) == ("", "", "")
    assert people == []
