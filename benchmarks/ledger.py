"""The one generated year: a county's, a prefecture's or a province's tasks on the worked example's scheme.

The outside check's shape: N units plus 财政局 (the scheme's livelihood indicator applies to it), tasks
assigned over 2025 on the five working-day task types, half with an explicit due instant, 15 % with a
co-unit, 20 % important, 95 % reported. `ledger_lines` writes it as a ledger for `kaohe import`;
`benchmarks.fill` writes the same batches straight into the tasks tables (the cheaper in-process figure).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from benchmarks.kernel import ROOT

SCHEME = ROOT / "tests" / "data" / "scheme.toml"  # the worked example's scheme, kept with the tests
TASK_TYPES = ("leader_directive", "meeting_decision", "draft_revision", "countersign", "supervision_letter")
BATCH = 100_000
NO_TIME = -1
LOCAL = timezone(timedelta(hours=8))  # the scheme's Asia/Shanghai, which keeps no summer time
YEAR_START = int(datetime(2025, 1, 1, tzinfo=LOCAL).timestamp())
DAY = 86_400


@dataclass(frozen=True)
class Shape:
    """A year's size: units (财政局 comes on top) and tasks."""

    units: int
    tasks: int

    @property
    def lines(self) -> int:
        """About the ledger's lines: the units, each task, and the reports of 95 % of them."""
        return self.units + 1 + self.tasks + self.tasks * 95 // 100


# A county's ledger is about 200,000 lines, a prefecture's about 2M, a province's about 20M (10M tasks,
# the size the province run's target was set for).
SHAPES = {
    "county": Shape(units=150, tasks=102_500),
    "prefecture": Shape(units=3_000, tasks=1_000_000),
    "province": Shape(units=30_000, tasks=10_000_000),
}


@dataclass(frozen=True)
class TaskBatch:
    """Tasks first .. first + len - 1 as columns; unit columns index `unit_rows`, NO_TIME / -1 for none."""

    first: int
    task_type: np.ndarray
    lead: np.ndarray
    important: np.ndarray
    assigned: np.ndarray
    due: np.ndarray
    co_unit: np.ndarray
    reported: np.ndarray


def unit_rows(shape: Shape) -> list[tuple[str, str, str]]:
    """(id, name, category) of every unit: a third townships, the rest departments, then 财政局."""
    rows = [(f"u{i}", f"单位{i}", "township" if i % 3 == 0 else "department") for i in range(shape.units)]
    return [*rows, ("czj", "财政局", "department")]


def task_batches(shape: Shape, *, seed: int = 2025) -> Iterator[TaskBatch]:
    """The year's tasks in batches of BATCH, the same for the same shape and seed."""
    rng = np.random.default_rng(seed)
    units = shape.units + 1
    for first in range(0, shape.tasks, BATCH):
        n = min(BATCH, shape.tasks - first)
        # Assigned in office hours on one of the year's first 340 days.
        assigned = YEAR_START + DAY + rng.integers(0, 340, n) * DAY + rng.integers(9 * 3600, 17 * 3600, n)
        explicit = rng.random(n) < 0.5
        due_day = (assigned - YEAR_START) // DAY + rng.integers(3, 15, n)
        due = np.where(explicit, YEAR_START + due_day * DAY + 18 * 3600, NO_TIME)
        lead = rng.integers(0, units, n)
        co_unit = np.where(rng.random(n) < 0.15, (lead + rng.integers(1, units, n)) % units, -1)
        # Reports from an hour to two weeks after assignment: most in time, some late.
        reported = assigned + rng.integers(3600, 14 * DAY, n)
        reported = np.where(rng.random(n) < 0.95, reported, NO_TIME)
        yield TaskBatch(
            first=first,
            task_type=rng.integers(0, len(TASK_TYPES), n),
            lead=lead,
            important=rng.random(n) < 0.2,
            assigned=assigned,
            due=due,
            co_unit=co_unit,
            reported=reported,
        )


def local_texts(instants: np.ndarray) -> list[str]:
    """Epoch seconds as RFC 3339 in the scheme's zone ("" for NO_TIME), formatted by numpy at once."""
    wall = (instants + 8 * 3600).astype("datetime64[s]")
    texts = np.char.add(np.datetime_as_string(wall, unit="s"), "+08:00")
    texts = np.where(instants == NO_TIME, "", texts)
    return [str(t) for t in texts]


def ledger_lines(shape: Shape) -> Iterator[str]:
    """The year as ledger lines: the units, then each task followed by its report."""
    units = unit_rows(shape)
    for uid, name, category in units:
        yield f'{{"type":"unit","id":"{uid}","name":"{name}","category":"{category}"}}'
    for batch in task_batches(shape):
        assigned, due, reported = (local_texts(c) for c in (batch.assigned, batch.due, batch.reported))
        columns = zip(
            batch.task_type.tolist(),
            batch.lead.tolist(),
            batch.important.tolist(),
            batch.co_unit.tolist(),
            assigned,
            due,
            reported,
            strict=True,
        )
        for k, (kind, lead, important, co, at, due_at, reported_at) in enumerate(columns, start=batch.first):
            extra = ',"priority":"important"' if important else ""
            extra += f',"co_units":["{units[co][0]}"]' if co >= 0 else ""
            extra += f',"due_at":"{due_at}"' if due_at else ""
            yield (
                f'{{"type":"task","id":"T{k}","title":"落实批示事项{k}","task_type":"{TASK_TYPES[kind]}",'
                f'"lead_unit":"{units[lead][0]}","assigned_at":"{at}"{extra}}}'
            )
            if reported_at:
                yield f'{{"type":"task_event","task":"T{k}","kind":"report","at":"{reported_at}"}}'


def write_ledger(path: Path, shape: Shape) -> int:
    """The ledger written to path; its number of lines."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for line in ledger_lines(shape):
            out.write(line + "\n")
            count += 1
    return count
