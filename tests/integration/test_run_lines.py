"""A run's task lines in run_lines (bytea): stored and read back to the bit; old runs read the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select

from services.common.db import Database, migrate
from services.scoring.storage import repository as repo
from services.scoring.storage.tables import run_lines, runs
from services.scoring.views import run_view
from tests.conftest import Databases, example_path
from tests.unit.test_task_lines import assessed

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "scoring" / "storage" / "migrations"
SH = ZoneInfo("Asia/Shanghai")


def run_row(run_id: str, *, year: int = 2025, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """A runs row as the repository stores it, for the tests that write one by hand."""
    return {
        "id": run_id,
        "state": "draft",
        "year": year,
        "scheme_sha256": "0" * 64,
        "scheme_id": "s",
        "as_of": 0,
        "input_digest": "0" * 64,
        "supersedes": "",
        "superseded_by": "",
        "created_at": 0,
        "duration_seconds": 0.0,
        "document": json.dumps(document or {}, ensure_ascii=False),
        "version": 1,
    }


def _units(db: Database, run_id: str, *, unit: str = "", breakdown: bool = True) -> str:
    """The run's units as the service reads them (run_view over the stored row and its parts), as text."""
    with db.read() as conn:
        row = repo.get_run(conn, run_id)
        view = run_view(
            row,
            SH,
            unit=unit,
            breakdown=breakdown,
            with_document=True,
            parts=repo.run_line_parts(conn, run_id),
        )
    assert view.document is not None
    return json.dumps(view.document["units"], ensure_ascii=False)


def test_a_run_stored_with_its_lines_in_parts_reads_back_to_the_bit(databases: Databases) -> None:
    db = Database(databases.url("scoring_run_lines"))
    try:
        migrate(db, MIGRATIONS, service="scoring")
        assessment = assessed()
        scored = assessment.document(include_breakdown=True)["units"]
        # Parts of one or two units each, so that a unit's breakdown reads only its own.
        parts = list(assessment.stored_parts(part_lines=2))
        assert len(parts) > 1
        with db.write() as conn:
            repo.insert_run(conn, **run_row("2025-001", document=assessment.stored_document()))
            repo.insert_run_lines(conn, run_id="2025-001", parts=parts)
        with db.read() as conn:
            stored = conn.execute(select(runs.c.document).where(runs.c.id == "2025-001")).scalar_one()
            kept = conn.execute(
                select(run_lines.c.first_unit, run_lines.c.data).order_by(run_lines.c.first_unit)
            ).all()
        # The document holds no line and no base64; the table holds the parts' bytes as they were packed.
        assert "data" not in json.loads(stored)["task_lines"]
        assert [(r.first_unit, bytes(r.data)) for r in kept] == [(p.first_unit, p.data) for p in parts]
        assert _units(db, "2025-001") == json.dumps(scored, ensure_ascii=False)
        for entry in scored:
            one = _units(db, "2025-001", unit=entry["unit"])
            assert one == json.dumps([entry], ensure_ascii=False)
        totals = json.loads(_units(db, "2025-001", breakdown=False))
        assert totals == [{k: v for k, v in u.items() if k != "breakdown"} for u in scored]
    finally:
        db.engine.dispose()


def test_0010_keeps_the_runs_stored_before_it_reading_the_same(databases: Databases) -> None:
    """A database at 0009 with a run of the old layout (lines inline as base64), upgraded: the run reads
    back as the same ledger scores now; a new run beside it keeps its lines in run_lines; going back down is
    refused while a run keeps its lines there (they would be lost), and done once none does."""
    from alembic import command
    from alembic.config import Config

    db = Database(databases.url("scoring_run_lines_upgrade"))
    old = json.loads(example_path("run_document_v1.json").read_text(encoding="utf-8"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0009_h_scoringuc")
            conn.execute(runs.insert(), [run_row("2025-001", document=old)])
        migrate(db, MIGRATIONS, service="scoring")
        assert "run_lines" in inspect(db.engine).get_table_names()
        assessment = assessed()
        scored = assessment.document(include_breakdown=True)["units"]
        assert _units(db, "2025-001") == json.dumps(scored, ensure_ascii=False)
        with db.write() as conn:
            repo.insert_run(conn, **run_row("2025-002", document=assessment.stored_document()))
            repo.insert_run_lines(conn, run_id="2025-002", parts=list(assessment.stored_parts()))
        assert _units(db, "2025-002") == _units(db, "2025-001")
        with pytest.raises(RuntimeError, match="run_lines"), db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009_h_scoringuc")
        assert _units(db, "2025-002") == _units(db, "2025-001")
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            conn.execute(run_lines.delete())
            command.downgrade(cfg, "0009_h_scoringuc")
        assert "run_lines" not in inspect(db.engine).get_table_names()
    finally:
        db.engine.dispose()
