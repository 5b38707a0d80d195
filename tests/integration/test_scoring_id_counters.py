"""Run and 容错 application ids from scoring's counter rows: seeded by the migration, never given twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.common.db import Database, migrate
from services.scoring.storage import counters
from services.scoring.storage.tables import applications, id_counters, runs
from tests.conftest import Databases
from tests.integration.test_run_lines import run_row

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "scoring" / "storage" / "migrations"


def _application(app_id: str, year: int) -> dict[str, Any]:
    return {
        "id": app_id,
        "unit": "fgj",
        "year": year,
        "target_type": "task",
        "target": "T1",
        "reason": "r",
        "state": "pending",
        "filed_at": 0,
        "decision_reason": "",
        "version": 1,
    }


def test_0009_seeds_each_years_counters_after_the_rows_stored(databases: Databases) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(databases.url("scoring_counters_seed"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0008")
            conn.execute(
                runs.insert(), [run_row("2025-001"), run_row("2025-002"), run_row("2024-001", year=2024)]
            )
            conn.execute(applications.insert(), [_application(f"RC2025-00{n}", 2025) for n in (1, 2, 3)])
        migrate(db, MIGRATIONS, service="scoring")
        with db.read() as conn:
            seeded = dict(conn.execute(select(id_counters.c.scope, id_counters.c.next)).all())
        assert seeded == {"run:2025": 3, "run:2024": 2, "application:2025": 4}
        with db.write() as conn:
            # The next ids are the ones count + 1 gave before the counters.
            assert counters.take(conn, "run:2025") == 3
            assert counters.take(conn, "application:2025") == 4
            assert counters.take(conn, "run:2026") == 1
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with db.read() as conn:
            assert (
                conn.execute(select(id_counters.c.next).where(id_counters.c.scope == "run:2025")).scalar()
                == 3
            )
    finally:
        db.dispose()


def test_a_counter_gives_each_number_once_and_takes_back_a_rolled_back_one(databases: Databases) -> None:
    db = Database(databases.url("scoring_counters"))
    try:
        migrate(db, MIGRATIONS, service="scoring")
        with db.write() as conn:
            assert [counters.take(conn, "run:2025") for _ in range(3)] == [1, 2, 3]
        try:
            with db.write() as conn:
                assert counters.take(conn, "run:2025") == 4
                raise RuntimeError("the write fails")
        except RuntimeError:
            pass
        with db.write() as conn:
            assert counters.take(conn, "run:2025") == 4
            taken = {"2025-005", "2025-006"}
            name = counters.next_free(
                conn, "run:2025", name=lambda n: f"2025-{n:03d}", taken=taken.__contains__
            )
            assert name == "2025-007"
    finally:
        db.dispose()


def test_concurrent_writers_never_get_the_same_number(databases: Databases) -> None:
    db = Database(databases.url("scoring_counters_race"))
    try:
        migrate(db, MIGRATIONS, service="scoring")
        got: list[int] = []
        lock = threading.Lock()

        def writer() -> None:
            for _ in range(5):
                with db.write() as conn:
                    number = counters.take(conn, "application:2025")
                with lock:
                    got.append(number)

        threads = [threading.Thread(target=writer) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(got) == list(range(1, 31))
    finally:
        db.dispose()
