"""The benchmark's generated ledger is one the tasks service accepts, of the outside check's shape; its
figures say `ok` or by how much a target is missed."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import islice
from typing import Any

from benchmarks.ledger import SCHEME, TASK_TYPES, Shape, ledger_lines
from benchmarks.record import Figure
from benchmarks.user_path import spent_between
from services.common.scheme import load_scheme_file
from services.tasks.ledger import parse_lines

SHAPE = Shape(units=40, tasks=4_000)


def test_every_line_is_accepted_by_the_tasks_ledger_parser() -> None:
    lines = list(ledger_lines(SHAPE))
    parsed = parse_lines(list(enumerate(lines, start=1)), load_scheme_file(SCHEME))
    assert len(parsed.units) == SHAPE.units + 1
    assert "czj" in {u.id for u in parsed.units}  # the scheme's livelihood indicator applies to it
    assert len(parsed.tasks) == SHAPE.tasks
    assert abs(len(lines) - SHAPE.lines) < SHAPE.tasks * 0.02


def test_the_tasks_have_the_outside_checks_shares() -> None:
    tasks = [json.loads(t) for t in ledger_lines(SHAPE) if t.startswith('{"type":"task",')]
    reports = sum(1 for t in ledger_lines(SHAPE) if '"kind":"report"' in t)

    def share(test: Callable[[dict[str, Any]], bool]) -> float:
        return sum(1 for t in tasks if test(t)) / len(tasks)

    assert {t["task_type"] for t in tasks} == set(TASK_TYPES)
    assert 0.45 < share(lambda t: "due_at" in t) < 0.55
    assert 0.12 < share(lambda t: "co_units" in t) < 0.18
    assert 0.17 < share(lambda t: t.get("priority") == "important") < 0.23
    assert 0.93 < reports / len(tasks) < 0.97
    assert all(t["assigned_at"].startswith("2025-") for t in tasks)


def test_the_same_shape_gives_the_same_ledger() -> None:
    assert list(islice(ledger_lines(SHAPE), 500)) == list(islice(ledger_lines(SHAPE), 500))


def test_a_figure_says_by_how_much_a_target_is_missed() -> None:
    slow = Figure("import.prefecture.seconds", 80.0, "s", 20.0, target=40.0)
    assert slow.verdict == "short by 2.0×"
    rate = Figure(
        "import.county.lines_per_s", 10_000.0, "lines/s", 500_000.0, target=50_000, higher_is_better=True
    )
    assert rate.verdict == "short by 5.0×"
    both = Figure("run.prefecture.seconds", 8.0, "s", 1.0, target=10.0, ratio_target=5.0)
    assert both.verdict == "short by 1.6×"  # within 10 s, but 8× the COPY against 5×
    assert Figure("run.prefecture.seconds", 4.0, "s", 1.0, target=10.0, ratio_target=5.0).verdict == "ok"
    assert Figure("kernel.county", 4.0, "ms", 1.0).verdict == ""
    assert "target≤10" in both.line() and "short by 1.6×" in both.line()


def test_the_imports_cpu_is_summed_by_process_and_by_database() -> None:
    before = {"tasks": 10.0, "postgres.tasks.41": 2.0, "postgres.scoring.42": 1.0}
    after = {"tasks": 11.5, "postgres.tasks.41": 5.0, "postgres.tasks.43": 0.5, "postgres.scoring.42": 1.25}
    # A backend begun during the import (43) counts from nothing; backends are summed by their database.
    assert spent_between(before, after) == {"tasks": 1.5, "postgres.tasks": 3.5, "postgres.scoring": 0.25}
