"""`make bench`: the scoring kernel at prefecture and province size, the ledger import, a run over gRPC."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.load import bench_load
from services.common.scheme import load_scheme_file
from services.scoring import domain

ROOT = Path(__file__).resolve().parents[1]


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    """The median wall time of work, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def synthetic_inputs(*, units: int, task_rows: int, readings: int, seed: int = 7) -> domain.Inputs:
    rng = np.random.default_rng(seed)
    scheme_year_start = int(datetime(2025, 1, 1).timestamp())
    assigned = scheme_year_start + rng.integers(0, 330 * 86400, task_rows)
    due = assigned + rng.integers(3600, 20 * 86400, task_rows)
    late = rng.random(task_rows)
    reported = np.where(
        late < 0.8,
        due - 3600,
        np.where(late < 0.95, due + rng.integers(1, 10 * 86400, task_rows), domain.NO_TIME),
    ).astype(np.int64)
    metrics = np.array(
        [
            "court_appearance_rate",
            "livelihood_spending_share",
            "unannounced_visit_share",
            "field_research_days",
        ],
        dtype=object,
    )
    metric = metrics[rng.integers(0, len(metrics), readings)]
    ratio = metric != "field_research_days"
    denominator = np.where(ratio, rng.integers(1, 20, readings), np.nan).astype(float)
    return domain.Inputs(
        units=domain.UnitTable(
            ids=[f"u{i}" for i in range(units)],
            names=[f"单位{i}" for i in range(units)],
            categories=["department" if i % 3 else "township" for i in range(units)],
        ),
        tasks=domain.TaskRows(
            task_id=np.array([f"T{i}" for i in range(task_rows)], dtype=object),
            unit=rng.integers(0, units, task_rows).astype(np.int64),
            is_lead=rng.random(task_rows) < 0.85,
            priority=np.where(rng.random(task_rows) < 0.2, "important", "normal").astype(object),
            assigned_at=assigned.astype(np.int64),
            due_at=due.astype(np.int64),
            reported_at=reported,
            cancelled_at=np.full(task_rows, domain.NO_TIME, dtype=np.int64),
        ),
        readings=domain.ReadingRows(
            unit=rng.integers(0, units, readings).astype(np.int64),
            metric=metric,
            period=np.array([f"2025-{m:02d}" for m in rng.integers(1, 13, readings)], dtype=object),
            value=np.where(ratio, np.nan, rng.integers(0, 40, readings)).astype(float),
            numerator=np.where(ratio, np.floor(denominator * rng.random(readings)), np.nan),
            denominator=denominator,
        ),
    )


def bench_kernel() -> list[tuple[str, str]]:
    example = load_scheme_file(ROOT / "tests" / "data" / "scheme.toml")
    as_of = datetime.fromisoformat("2025-12-31T23:59:59+08:00")
    rows = []
    for label, units, tasks in (
        ("县 county", 150, 50_000),
        ("市 prefecture", 3_000, 1_000_000),
        ("省 province", 30_000, 10_000_000),
    ):
        inputs = synthetic_inputs(units=units, task_rows=tasks, readings=units * 24)
        seconds = timed(
            lambda inputs=inputs: domain.score(inputs, example, year=2025, as_of=as_of),
            repeat=3 if tasks <= 1_000_000 else 1,
        )
        rows.append((f"kernel {label}: {units:,} units, {tasks:,} task rows", f"{seconds:.3f} s"))
    return rows


def bench_import_and_run() -> list[tuple[str, str]]:
    from kaohe.scoring.v1 import scoring_pb2

    from services.cli.sample import sample_county
    from tests.conftest import start_stack, stop_stack

    scheme = load_scheme_file(ROOT / "schemes" / "default.toml")
    records = sample_county(scheme_text=scheme.text, year=scheme.year)
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(
            tasks_db=f"sqlite:///{tmp}/t.db", scoring_db=f"sqlite:///{tmp}/s.db", scheme=scheme, tmp=Path(tmp)
        )
        try:
            start = time.perf_counter()
            stack.import_ledger(data)
            imported = time.perf_counter() - start
            _, _, scoring = stack.stubs()
            start = time.perf_counter()
            scoring.CreateRun(
                scoring_pb2.CreateRunRequest(year=scheme.year), metadata=stack.metadata(), timeout=300
            )
            ran = time.perf_counter() - start
        finally:
            stop_stack(stack)
    return [
        (
            f"import of the sample county over gRPC, SQLite ({len(records):,} records)",
            f"{imported:.2f} s ({len(records) / imported:,.0f} records/s)",
        ),
        ("assessment run of the sample county over gRPC, SQLite", f"{ran:.2f} s"),
    ]


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


def bench_run_at_scale() -> list[tuple[str, str]]:
    """A prefecture-sized run where the spec puts it: on PostgreSQL (KAOHE_TEST_PG_URL), else SQLite."""
    from kaohe.scoring.v1 import scoring_pb2

    from tests.conftest import PG_URL, Databases, start_stack, stop_stack

    scheme = load_scheme_file(ROOT / "tests" / "data" / "scheme.toml")
    units, tasks = 3_000, 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases("postgres" if PG_URL else "sqlite", Path(tmp))
        tasks_url = databases.url("tasks")
        stack = start_stack(
            tasks_db=tasks_url, scoring_db=databases.url("scoring"), scheme=scheme, tmp=Path(tmp)
        )
        try:
            start = time.perf_counter()
            fill_tasks_db(tasks_url, units=units, tasks=tasks)
            filled = time.perf_counter() - start
            _, _, scoring = stack.stubs()
            start = time.perf_counter()
            scoring.CreateRun(
                scoring_pb2.CreateRunRequest(year=2025, omit_breakdown=True),
                metadata=stack.metadata(),
                timeout=900,
            )
            ran = time.perf_counter() - start
        finally:
            stop_stack(stack)
            databases.drop()
    where = "PostgreSQL" if PG_URL else "SQLite"
    return [
        (
            f"prefecture ledger written by Core bulk inserts, {where} ({tasks:,} tasks with reports)",
            f"{filled:.1f} s",
        ),
        (
            f"assessment run over gRPC, {where}, prefecture "
            f"({units:,} units, {tasks:,} tasks, ~15% co-units)",
            f"{ran:.1f} s",
        ),
    ]


def main() -> int:
    print("Kaohe benchmarks (median wall time, this machine)", flush=True)
    for bench in (bench_kernel, bench_import_and_run, bench_run_at_scale, bench_load):
        for name, value in bench():
            print(f"  {name:<100}  {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
