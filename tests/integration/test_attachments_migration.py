"""Migration 0012: a tasks database of before attachments gains their table, and loses it on downgrade."""

from __future__ import annotations

from sqlalchemy import inspect

from services.common.db import Database, migrate
from services.tasks.storage.tables import attachments
from tests.conftest import Databases
from tests.integration.test_people_migration import MIGRATIONS


def test_0012_adds_the_attachments_table_and_removes_it_on_downgrade(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(databases.url("before_attachments"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0011")
        assert "attachments" not in inspect(db.engine).get_table_names()
        migrate(db, MIGRATIONS, service="tasks")
        found = inspect(db.engine)
        assert {c["name"] for c in found.get_columns("attachments")} == set(attachments.c.keys())
        assert [i["name"] for i in found.get_indexes("attachments")] == ["ix_attachments_item"]
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0011")
        assert "attachments" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_scorings_0008_adds_the_attachments_table_after_0007(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config

    scoring = MIGRATIONS.parents[2] / "scoring" / "storage" / "migrations"
    db = Database(databases.url("scoring_before_attachments"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(scoring))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007")
        assert "scoring_attachments" not in inspect(db.engine).get_table_names()
        migrate(db, scoring, service="scoring")
        columns = inspect(db.engine).get_columns("scoring_attachments")
        assert {c["name"] for c in columns} == set(attachments.c.keys())
    finally:
        db.dispose()
