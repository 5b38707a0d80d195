"""kill -9 between an import's phases, on real processes: `kaohe serve` started again settles the import.

The import is held between its phases from outside, as a busy database would hold it: the test takes a
service's SQLite write lock (BEGIN IMMEDIATE, as an operator's `sqlite3` shell could), so that service's
next write waits (its busy timeout is 30 s) while reads go on; what each phase left is read from the
databases, and the victim is killed there.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import example_path
from tests.e2e.forked_cli import FORKED
from tests.e2e.ports import free_port_base

KAOHE = str(Path(sys.executable).parent / "kaohe")
pytestmark = pytest.mark.slow
SCHEME = str(example_path("scheme.toml"))

LEDGER = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {
        "type": "task",
        "id": "T1",
        "title": "重点项目用地保障",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-04-28T10:00:00+08:00",
    },
    {"type": "task_event", "task": "T1", "kind": "report", "at": "2025-05-06T10:00:00+08:00"},
    {
        "type": "error_report",
        "id": "E1",
        "unit": "fgj",
        "date": "2025-04-01",
        "category": "drafting",
        "severity": "general",
        "description": "报送材料数据口径不一致",
    },
]


class Served:
    """`kaohe serve` on a data directory."""

    def __init__(self, tmp: Path, data: Path, *, recovery_after: str = "1") -> None:
        self.data = data
        self.log = tmp / f"serve-{time.monotonic_ns()}.log"
        for _ in range(5):
            base = free_port_base()
            self.env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
            self.env.update(
                KAOHE_GATEWAY=f"127.0.0.1:{base}",
                XDG_CONFIG_HOME=str(tmp / "config"),
                KAOHE_IMPORT_RECOVERY_AFTER=recovery_after,
            )
            with self.log.open("ab") as out:
                self.process = subprocess.Popen(
                    [KAOHE, "serve", "--data-dir", str(data), "--port-base", str(base), "--scheme", SCHEME],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.env["KAOHE_DATA_DIR"] = str(data)
            if self._healthy():
                return
            if "已被占用" not in self.log.read_text():
                raise AssertionError("kaohe serve did not start:\n" + self.log.read_text())
        raise AssertionError("kaohe serve found its ports taken five times running")

    def _healthy(self) -> bool:
        for _ in range(160):
            if self.kaohe("status", check=False).returncode == 0:
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.25)
        self.stop()
        raise AssertionError("the stack did not become healthy:\n" + self.log.read_text())

    def kaohe(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = FORKED.run([KAOHE, *args], self.env, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kaohe {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def start_import(self, path: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [KAOHE, "import", str(path), "--json"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def service_pid(self, name: str) -> int:
        """The process of `serve-one name` among this serve's children."""
        for pid in subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve-one" in argv and name.encode() in argv:
                return int(pid)
        raise AssertionError(f"no {name} process")

    def wait_stopped(self) -> None:
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEDGER), encoding="utf-8")
    return path


@pytest.fixture
def cleanup() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()


def visible(served: Served) -> tuple[set[str], set[str]]:
    """(task ids, record ids) as the command line lists them."""
    tasks = json.loads(served.kaohe("tasks", "list", "--json").stdout)["tasks"]
    records = json.loads(served.kaohe("records", "list", "--json").stdout)["records"]
    return {t["id"] for t in tasks}, {r["id"] for r in records}


def staged_imports(data: Path) -> int:
    with sqlite3.connect(data / "scoring.db") as db:
        return int(db.execute("SELECT count(*) FROM staged_imports").fetchone()[0])


def decisions(data: Path) -> list[str]:
    with sqlite3.connect(data / "tasks.db") as db:
        return [row[0] for row in db.execute("SELECT outcome FROM import_decisions")]


def eventually(check: Callable[[], Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not settled in time")
        time.sleep(0.1)


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """The database's write lock held by this test until the block ends (readers go on: WAL)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def held_at_staged(served: Served, ledger_file: Path, stack: ExitStack) -> subprocess.Popen[str]:
    """An import whose scoring half is staged and whose tasks half cannot be written: tasks' database is
    write-locked (until stack closes), so the tasks service decides nothing."""
    stack.enter_context(write_locked(served.data / "tasks.db"))
    importing = served.start_import(ledger_file)
    eventually(lambda: staged_imports(served.data) == 1)
    assert decisions(served.data) == []
    return importing


def held_at_decided(served: Served, ledger_file: Path, stack: ExitStack) -> subprocess.Popen[str]:
    """An import the tasks service has committed (its decision recorded) and scoring has not: scoring's
    database is write-locked (until stack closes) before tasks may write, so its commit waits."""
    with ExitStack() as tasks_locked:
        importing = held_at_staged(served, ledger_file, tasks_locked)
        stack.enter_context(write_locked(served.data / "scoring.db"))
    eventually(lambda: decisions(served.data) == ["committed"])
    assert staged_imports(served.data) == 1
    return importing


def test_scoring_killed_after_the_tasks_commit_then_the_stack_completes_it(
    tmp_path: Path, ledger_file: Path, cleanup: list[Served]
) -> None:
    data = tmp_path / "data"
    served = Served(tmp_path, data)
    cleanup.append(served)
    with ExitStack() as held:
        importing = held_at_decided(served, ledger_file, held)
        os.kill(served.service_pid("scoring"), signal.SIGKILL)
        served.wait_stopped()
    _, err = importing.communicate(timeout=60)
    assert importing.returncode != 0, err
    assert staged_imports(data) == 1 and decisions(data) == ["committed"]

    again = Served(tmp_path, data)
    cleanup.append(again)
    eventually(lambda: staged_imports(data) == 0)
    assert visible(again) == ({"T1"}, {"E1"})
    # Complete without a second import: the same file finds everything stored.
    reply = json.loads(again.kaohe("import", str(ledger_file), "--json").stdout)
    assert sum(reply["created"].values()) == 0
    assert decisions(data) == ["committed", "committed"]


def test_an_import_the_tasks_service_decided_is_settled_before_scoring_serves_again(
    tmp_path: Path, ledger_file: Path, cleanup: list[Served]
) -> None:
    """Issue 21 item 5: no wait of KAOHE_IMPORT_RECOVERY_AFTER (30 s by default) when tasks has decided."""
    data = tmp_path / "data"
    served = Served(tmp_path, data, recovery_after="30")
    cleanup.append(served)
    with ExitStack() as held:
        importing = held_at_decided(served, ledger_file, held)
        os.kill(served.service_pid("scoring"), signal.SIGKILL)
        served.wait_stopped()
    importing.communicate(timeout=60)
    assert staged_imports(data) == 1 and decisions(data) == ["committed"]

    again = Served(tmp_path, data, recovery_after="30")
    cleanup.append(again)
    restarted = time.monotonic()
    # Both halves agree within 5 s of the restart (in fact before scoring answered its first call).
    eventually(lambda: staged_imports(data) == 0, seconds=5)
    assert time.monotonic() - restarted < 5
    assert "import settled at start-up" in again.log.read_text()
    assert visible(again) == ({"T1"}, {"E1"})


@pytest.mark.parametrize("victim", ["gateway", "tasks"])
def test_killed_before_the_tasks_commit_then_the_stack_rolls_it_back(
    tmp_path: Path, ledger_file: Path, cleanup: list[Served], victim: str
) -> None:
    data = tmp_path / "data"
    served = Served(tmp_path, data)
    cleanup.append(served)
    with ExitStack() as held:
        importing = held_at_staged(served, ledger_file, held)
        # The lock outlives the stack: the tasks service, killed or stopped with the others, never writes.
        os.kill(served.service_pid(victim), signal.SIGKILL)
        served.wait_stopped()
    importing.communicate(timeout=60)
    assert importing.returncode != 0
    assert staged_imports(data) == 1 and decisions(data) == []

    again = Served(tmp_path, data)
    cleanup.append(again)
    eventually(lambda: staged_imports(data) == 0)
    assert decisions(data) == ["aborted"]
    assert visible(again) == (set(), set())
    reply = json.loads(again.kaohe("import", str(ledger_file), "--json").stdout)
    assert sum(reply["created"].values()) == 4
    assert visible(again) == ({"T1"}, {"E1"})
