"""The scoring kernel at county, prefecture and province size against one `np.bincount` over the same rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.record import Figure, Record, timed
from services.common.scheme import load_scheme_file
from services.scoring import domain

ROOT = Path(__file__).resolve().parents[1]


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


SIZES = (("county", 150, 50_000), ("prefecture", 3_000, 1_000_000))
LARGE = (("province", 30_000, 10_000_000),)


def bench_kernel(record: Record, *, large: bool) -> None:
    """The kernel's wall time per size, against one weighted np.bincount pass over the same task rows."""
    example = load_scheme_file(ROOT / "tests" / "data" / "scheme.toml")
    as_of = datetime.fromisoformat("2025-12-31T23:59:59+08:00")
    for label, units, tasks in SIZES + (LARGE if large else ()):
        inputs = synthetic_inputs(units=units, task_rows=tasks, readings=units * 24)
        repeat = 3 if tasks <= 1_000_000 else 1
        seconds = timed(lambda inputs=inputs: domain.score(inputs, example, year=2025, as_of=as_of), repeat)
        weights = inputs.tasks.due_at.astype(np.float64)
        baseline = timed(
            lambda rows=inputs.tasks.unit, w=weights, n=units: np.bincount(rows, weights=w, minlength=n), 5
        )
        record.add(
            Figure(
                f"kernel.{label}",
                seconds * 1000,
                "ms",
                baseline * 1000,
                f"{units:,} units, {tasks:,} task rows; baseline one np.bincount pass",
            )
        )
        del inputs
