"""A fair year through the command line on a real stack: 定档 refused until the reports are verified,
no run of the future, an empty year's overview refused (FORMATS.md, SCORING.md §9)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served, start_served

pytestmark = pytest.mark.slow

LEDGER = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {
        "type": "task",
        "id": "V1",
        "title": "落实批示",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-05-06T09:00:00+08:00",
        "due_at": "2025-05-20T23:59:59+08:00",
    },
    {"type": "task_event", "task": "V1", "kind": "report", "at": "2025-05-19T09:00:00+08:00"},
    {
        "type": "task",
        "id": "V2",
        "title": "会议事项",
        "task_type": "leader_directive",
        "lead_unit": "czj",
        "assigned_at": "2025-05-06T09:00:00+08:00",
        "due_at": "2025-05-20T23:59:59+08:00",
    },
    {
        "type": "task_event",
        "task": "V2",
        "kind": "extend",
        "at": "2025-05-18T09:00:00+08:00",
        "due_at": "2025-06-30T23:59:59+08:00",
        "note": "确因特殊情况，经批准延期",
    },
    {"type": "task_event", "task": "V2", "kind": "report", "at": "2025-06-20T09:00:00+08:00"},
    {"type": "task_event", "task": "V2", "kind": "verify", "at": "2025-06-21T09:00:00+08:00"},
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    # The example scheme without a 公示 appeal window: 定档 may follow publication at once.
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(
        example_path("scheme.toml")
        .read_text(encoding="utf-8")
        .replace("appeal_window_working_days = 5", "appeal_window_working_days = 0"),
        encoding="utf-8",
    )
    stack = start_served(tmp_path, scheme=scheme)
    yield stack
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(timeout=20)


def test_finalize_is_refused_until_the_counted_reports_are_verified(served: Served, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEDGER), encoding="utf-8")
    served.kaohe("import", str(ledger))
    run = json.loads(served.kaohe("assess", "run", "--year", "2025", "--json").stdout)
    assert run["interim"] is False and run["as_of"] == "2025-12-31T23:59:59+08:00"
    shown = served.kaohe("assess", "show", "--run", run["run"], "--unit", "czj")
    assert "已核查" in shown.stdout and "已延期" in shown.stdout
    detail = json.loads(served.kaohe("assess", "show", "--run", run["run"], "--unit", "fgj", "--json").stdout)
    (line,) = detail["units"][0]["breakdown"]["tasks"]
    assert (line["task"], line["verified"], line["extended"]) == ("V1", False, False)

    served.kaohe("assess", "publish", "--run", run["run"])
    held = served.kaohe("assess", "finalize", "--run", run["run"], check=False)
    assert held.returncode == 1 and "V1" in held.stderr and "尚未核查" in held.stderr
    assert "V2" not in held.stderr
    served.kaohe("tasks", "verify", "V1")
    final = served.kaohe("assess", "finalize", "--run", run["run"])
    assert "已定档" in final.stdout

    history = served.kaohe("tasks", "show", "V2")
    assert "延期" in history.stdout and "2025-06-30T23:59:59+08:00" in history.stdout


def test_no_run_of_the_future_and_no_overview_of_an_empty_year(served: Served, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEDGER), encoding="utf-8")
    served.kaohe("import", str(ledger))
    not_begun = served.kaohe("assess", "run", "--year", "2099", check=False)
    assert not_begun.returncode == 1 and "2099" in not_begun.stderr and "尚未开始" in not_begun.stderr
    future = served.kaohe("assess", "run", "--year", "2025", "--as-of", "2099-01-01T00:00:00", check=False)
    assert future.returncode == 1 and "2099-01-01T00:00:00+08:00" in future.stderr
    empty = served.kaohe("overview", "--year", "2023", check=False)
    assert empty.returncode == 1 and "2023" in empty.stderr
    assert served.kaohe("overview", "--year", "2025").returncode == 0
