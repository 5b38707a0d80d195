"""What `kaohe serve` leaves on disk: directories 0700, files 0600, whatever existed before."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served, start_served

pytestmark = pytest.mark.slow


def _stop(served: Served) -> None:
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=30)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_every_file_is_0600_and_every_directory_0700(tmp_path: Path) -> None:
    """Fresh data directory: databases (with -wal, -shm), secret, audit.log, tls/ — nobody else reads them."""
    served = start_served(tmp_path)
    try:
        served.kaohe("import", str(example_path("ledger.jsonl")))
        modes = _modes(served.data_dir)
    finally:
        _stop(served)
    expected = {
        "secret",
        "audit.log",
        "tasks.db",
        "tasks.db-wal",
        "scoring.db",
        "scoring.db-wal",
        "gateway.db",
        "tls",
        "tls/ca.pem",
    }
    assert expected <= set(modes), sorted(modes)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (served.data_dir / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_an_existing_open_data_directory_is_tightened(tmp_path: Path) -> None:
    """A data directory made 0755 with a 0644 database (an older install) is tightened at start."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "tasks.db").touch(mode=0o644)
    os.chmod(data / "tasks.db", 0o644)
    served = start_served(tmp_path)
    try:
        modes = _modes(data)
    finally:
        _stop(served)
    assert modes["."] == 0o700 and modes["tasks.db"] == 0o600


def test_the_sample_is_imported_into_a_data_directory_that_did_not_exist(tmp_path: Path) -> None:
    """Issue item 5 on real parts: `kaohe serve --sample` in a new directory stores the county, says so."""
    served = start_served(tmp_path, extra=("--sample",))
    try:
        for _ in range(240):
            if any(said in served.log.read_text() for said in ("已导入示例县", "示例县未导入")):
                break
            time.sleep(0.5)
        log = served.log.read_text()
        listed = served.kaohe("tasks", "list", "--json")
    finally:
        _stop(served)
    assert "已导入示例县" in log and "示例县未导入" not in log, log
    assert '"id"' in listed.stdout
