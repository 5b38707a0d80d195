"""A run's task lines packed part by part for run_lines: each part's columns made only as it is packed."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from services.scoring.task_lines import Part, pack_part, split

if TYPE_CHECKING:
    from services.scoring.result import Detail

# Threads compressing a run's parts while the next ones are gathered (zlib lets go of the GIL).
PACKERS = max(1, min(4, os.cpu_count() or 1))


def stored_parts(detail: Detail, order: np.ndarray, points: float, part_lines: int) -> Iterator[Part]:
    """The task lines of the units in order (unit codes, the document's order), part by part
    (task_lines.split), so a province's lines are never all held at once; points the scheme's timeliness
    points."""
    by_unit, bounds = detail.task_groups
    doc_order = order.tolist()
    counts = (bounds[1:] - bounds[:-1])[order]
    with ThreadPoolExecutor(PACKERS, thread_name_prefix="pack-lines") as pool:
        pending: deque[Future[Part]] = deque()
        for first, last in split(counts, part_lines):
            # Each unit's lines in the document's order of units, each unit's as its breakdown takes them.
            ks = np.concatenate([by_unit[bounds[i] : bounds[i + 1]] for i in doc_order[first:last]])
            unit_bounds = np.concatenate([[0], np.cumsum(counts[first:last])])
            pending.append(pool.submit(pack_part, first, unit_bounds, _line_columns(detail, ks, points)))
            # A few parts in flight: their columns are dropped once packed.
            if len(pending) > PACKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _line_columns(detail: Detail, ks: np.ndarray, points: float) -> dict[str, np.ndarray]:
    """The columns of the counted task rows ks, as a part stores them."""
    part, tk = detail.tasks, detail.inputs.tasks
    rows = part.rows[ks]
    weight, credit = part.weight[ks], part.credit[ks]
    text, lengths = tk.task_id.utf8(rows)
    return {
        "lengths": lengths.astype("<i4"),
        "text": text,
        "lead": tk.is_lead[rows],
        "priority": tk.priority[rows].astype("<i4"),
        "weight": weight.astype("<f8"),
        "credit": credit.astype("<f8"),
        "late": part.late_days[ks].astype("<i8"),
        "tolerance": part.tolerance[ks].astype("<i8"),
        "due": tk.due_at[rows].astype("<i8"),
        "reported": part.reported[ks].astype("<i8"),
        # As document() computes a line's points, in the same order of operations (the same float bits).
        "points": (points * (weight * credit) / part.sum_w[tk.unit[rows]]).astype("<f8"),
        "verified": tk.verified[rows],
        "extended": tk.extended[rows],
    }
