"""Ids the tasks service makes come from a counter: migration 0013 seeds it from the requests stored."""

from __future__ import annotations

from sqlalchemy import select, text

from services.common.db import Database, migrate
from services.tasks.storage import counters
from services.tasks.storage.tables import id_counters
from tests.conftest import Databases
from tests.integration.test_people_migration import MIGRATIONS

_REQUEST = (
    "INSERT INTO extension_requests (id, task_id, unit, reason, asked_due, due_before, state, filed_at, "
    "filed_by, filed_role, filed_unit, decided_by, decided_role, decided_unit, decision_reason, version) "
    "VALUES (:id, 'T1', 'fgj', '原因', 2, 1, 'pending', 1, 'u', 'department', 'fgj', '', '', '', '', 1)"
)


def test_0013_seeds_each_years_counter_where_counting_its_requests_left_it(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(databases.url("before_id_counters"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
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
            for ext_id in ("YQ2025-001", "YQ2026-001", "YQ2026-002", "given-by-hand"):
                conn.execute(text(_REQUEST), {"id": ext_id})
        migrate(db, MIGRATIONS, service="tasks")
        with db.read() as conn:
            seeded = {r.scope: r.next for r in conn.execute(select(id_counters.c.scope, id_counters.c.next))}
        assert seeded == {"YQ2025": 2, "YQ2026": 3}
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012")
            assert conn.execute(text("SELECT count(*) FROM extension_requests")).scalar() == 4
    finally:
        db.dispose()


def test_a_counter_hands_out_each_number_once_and_starts_where_it_is_told(databases: Databases) -> None:
    db = Database(databases.url("id_counters"))
    try:
        migrate(db, MIGRATIONS, service="tasks")
        with db.write() as conn:
            drawn = [counters.draw(conn, "YQ2027", first=lambda: 5) for _ in range(3)]
        with db.write() as conn:
            drawn.append(counters.draw(conn, "YQ2027", first=lambda: 1))
            other = counters.draw(conn, "YQ2028", first=lambda: 1)
        assert drawn == [5, 6, 7, 8]
        assert other == 1
    finally:
        db.dispose()
