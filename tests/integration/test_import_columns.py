"""A ledger imported with batches checked as columns stores exactly what the line-by-line checks store.

The same file goes into two fresh tasks databases, once as the import runs it (common batches at once,
the rest line by line) and once with every batch forced line by line; the tables must agree row for row,
and a repeat must find everything unchanged. Each refusal is worded by the line-by-line checks alone.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from services.common.auth import Identity
from services.common.db import Database, migrate
from services.common.errors import InvalidArgument
from services.common.scheme import load_scheme_file
from services.tasks.handlers import import_batch, import_lines
from services.tasks.storage.tables import task_co_units, task_events, tasks, units
from services.tasks.use_cases import TasksApp
from tests.conftest import Databases

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "tasks" / "storage" / "migrations"
OFFICE = Identity(role="office", subject="office")
TYPES = ("leader_directive", "emergency_call", "instruction_relay", "meeting_decision")


def _ledger() -> list[dict[str, Any]]:
    """Units, then tasks of several types and shapes with their events, some only the line by line
    checks take (a person named, an extension, a verify and close, an instant written with Z)."""
    records: list[dict[str, Any]] = [
        {"type": "unit", "id": f"u{u}", "name": f"单位{u}", "category": "department"} for u in range(6)
    ]
    records.append({"type": "person", "id": "p1", "name": "张三", "unit": "u1", "post": "科长"})
    for k in range(90):
        task: dict[str, Any] = {
            "type": "task",
            "id": f"T{k:03d}",
            "title": f'落实"批示"\\{k}：重点项目{k}',
            "task_type": TYPES[k % len(TYPES)],
            "lead_unit": f"u{k % 6}",
            "assigned_at": f"2025-03-{1 + k % 28:02d}T0{k % 10}:15:00+08:00",
        }
        if k % 3 == 0:
            task["co_units"] = [f"u{(k + 1) % 6}", f"u{(k + 2) % 6}"]
        if k % 4 == 0:
            task["due_at"] = f"2025-04-{1 + k % 28:02d}T18:00:00+08:00"
        if k % 5 == 0:
            task["priority"] = "important"
        if k % 7 == 0:
            task["source"] = "县长办公会"
        if k == 40:
            task["responsible"] = "p1"
            task["lead_unit"] = "u1"
        records.append(task)
        at = f"2025-05-{1 + k % 28:02d}T10:00:00+08:00"
        if k % 6 != 5:
            records.append({"type": "task_event", "task": task["id"], "kind": "accept", "at": at})
        if k % 2 == 0:
            report = {
                "type": "task_event",
                "task": task["id"],
                "kind": "report",
                "at": at.replace("10:", "11:"),
            }
            records.append({**report, "note": "已办结\n附材料", "by": "李四"})
        if k == 12:
            records.append(
                {"type": "task_event", "task": "T012", "kind": "verify", "at": "2025-05-20T09:00:00+08:00"}
            )
        if k == 32:
            records.append(
                {"type": "task_event", "task": "T032", "kind": "extend", "at": "2025-03-07T09:00:00+08:00"}
                | {"due_at": "2025-06-30T18:00:00+08:00"}
            )
        if k == 61:
            records.append(
                {"type": "task_event", "task": "T061", "kind": "progress", "at": "2025-06-01T01:00:00Z"}
            )
    return records


def _batches(records: list[dict[str, Any]], size: int) -> list[list[tuple[int, str]]]:
    lines = [(n, json.dumps(r, ensure_ascii=False)) for n, r in enumerate(records, start=1)]
    return [lines[k : k + size] for k in range(0, len(lines), size)]


def _app(databases: Databases) -> TasksApp:
    db = Database(databases.url("tasks"))
    migrate(db, MIGRATIONS, service="tasks")
    return TasksApp(db, load_scheme_file(ROOT / "schemes" / "default.toml"))


def _tables(app: TasksApp) -> dict[str, list[tuple[Any, ...]]]:
    stamped = {"created_at", "updated_at"}
    with app.db.read(primary=True) as conn:
        return {
            "units": sorted(conn.execute(select(*(c for c in units.c if c.name not in stamped))).all()),
            "tasks": sorted(conn.execute(select(*(c for c in tasks.c if c.name not in stamped))).all()),
            "co_units": sorted(conn.execute(select(task_co_units)).all()),
            # The recorded order per task is the sequence's; the instants and contents must agree.
            "events": sorted(
                conn.execute(
                    select(*(c for c in task_events.c if c.name not in ("seq", "recorded_at"))).order_by(
                        task_events.c.seq
                    )
                ).all()
            ),
        }


@pytest.fixture
def at_once(monkeypatch: pytest.MonkeyPatch) -> Counter[bool]:
    """How many batches were taken at once (True) and left to the line by line checks (False)."""
    taken: Counter[bool] = Counter()
    original = import_batch._at_once

    def counted(run: Any, lines: list[tuple[int, str]]) -> bool:
        done = original(run, lines)
        taken[done] += 1
        return done

    monkeypatch.setattr(import_batch, "_at_once", counted)
    return taken


@pytest.mark.parametrize("size", [7, 40, 2000])
def test_batches_at_once_store_what_line_by_line_stores(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, at_once: Counter[bool], size: int
) -> None:
    records = _ledger()
    fast, slow = _app(databases), _app(databases)
    created, unchanged = fast.importer.import_ledger(
        _batches(records, size), validate_only=False, actor=OFFICE
    )
    assert not unchanged
    if size < 2000:
        assert at_once[True] > 0 and at_once[False] > 0, at_once
    counted = import_batch._at_once
    monkeypatch.setattr(import_batch, "_at_once", lambda run, lines: False)
    expected = slow.importer.import_ledger(_batches(records, size), validate_only=False, actor=OFFICE)
    assert (created, unchanged) == expected
    assert created == Counter({"unit": 6, "person": 1, "task": 90, "task_event": 123})
    assert _tables(fast) == _tables(slow)
    monkeypatch.setattr(import_batch, "_at_once", counted)
    again = fast.importer.import_ledger(_batches(records, size), validate_only=False, actor=OFFICE)
    assert again == (Counter(), Counter({"unit": 6, "person": 1, "task": 90, "task_event": 123}))


BAD = {
    "bad_id": ({"id": "T 1"}, "id", "编号只能由英文字母"),
    "unknown_unit": ({"lead_unit": "u99"}, "lead_unit", "不存在"),
    "due_before_assigned": ({"due_at": "2025-01-01T00:00:00+08:00"}, "due_at", "不得早于交办时间"),
    "long_title": ({"title": "题" * 201}, "title", "不得超过 200 个字符"),
    "bad_instant": ({"assigned_at": "2025-02-30T09:00:00+08:00"}, "assigned_at", "ISO 8601"),
    "unknown_field": ({"colour": "red"}, "colour", "不是 task 记录的字段"),
}


@pytest.mark.parametrize("size", [40, 2000])
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_line_in_a_common_batch_is_refused_as_line_by_line_refuses_it(
    databases: Databases, case: str, size: int
) -> None:
    change, name, words = BAD[case]
    records = [r for r in _ledger() if r["type"] in ("unit", "task", "task_event") and "responsible" not in r]
    bad_at = next(k for k, r in enumerate(records) if r.get("id") == "T050")
    records[bad_at] = {**records[bad_at], **change}
    app = _app(databases)
    before = _tables(app)
    with pytest.raises(InvalidArgument) as refused:
        app.importer.import_ledger(_batches(records, size), validate_only=False, actor=OFFICE)
    violation = refused.value.violations[0]
    assert violation.field == f"line {bad_at + 1}: {name}", violation
    assert words in violation.description, violation
    assert _tables(app) == before


def test_a_repeated_imports_lookup_of_a_batchs_stored_events_goes_by_index(databases: Databases) -> None:
    """A repeat finds each batch's stored events through the task index, not by reading every event (which
    PostgreSQL's planner prefers at a county's size, a whole table read per batch); the planner's setting
    is the import's own again afterwards."""
    records: list[dict[str, Any]] = [{"type": "unit", "id": "u0", "name": "单位0", "category": "department"}]
    for k in range(3000):
        at = f"2025-03-{1 + k % 28:02d}T09:00:00+08:00"
        records += [
            {"type": "task", "id": f"T{k}", "title": f"事项{k}", "task_type": TYPES[0], "lead_unit": "u0"}
            | {"assigned_at": at},
            *(
                {"type": "task_event", "task": f"T{k}", "kind": kind, "at": at.replace("09:", hour)}
                for kind, hour in (("accept", "10:"), ("progress", "11:"), ("report", "15:"))
            ),
        ]
    app = _app(databases)
    app.importer.import_ledger(_batches(records, 2000), validate_only=False, actor=OFFICE)
    batch = [f"T{k}" for k in range(0, 3000, 3)] + [f"T{k}" for k in range(1, 3000, 3)]
    with app.db.write() as conn:
        query = import_lines.stored_events(conn, batch)
        if databases.kind == "postgres":
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            with import_lines.by_index(conn):
                plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars())
            assert conn.execute(text("SHOW enable_seqscan")).scalar_one() == "on"
        else:
            literal = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            with import_lines.by_index(conn):
                plan = "\n".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}"))
    # By the task index, or (SQLite) by kind and task: either way a batch's events, not the table.
    assert "ix_task_events_task" in plan or "ix_task_events_report" in plan, plan
    assert "Seq Scan" not in plan and "SCAN task_events" not in plan, plan
    again = app.importer.import_ledger(_batches(records, 2000), validate_only=False, actor=OFFICE)
    assert again == (Counter(), Counter({"task": 3000, "task_event": 9000, "unit": 1}))
