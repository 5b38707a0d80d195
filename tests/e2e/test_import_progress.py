"""`kaohe import` shows its progress (lines sent, lines per second) on a terminal, and only there."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import KAOHE, Served

pytestmark = pytest.mark.slow


def test_progress_on_a_terminal_and_silence_elsewhere(served: Served) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    ledger = str(example_path("ledger.jsonl"))
    lines = sum(1 for line in Path(ledger).read_text(encoding="utf-8").splitlines() if line.strip())
    # stderr a terminal: the progress line is there, with the lines sent and the rate.
    parent, child = pty.openpty()
    try:
        done = subprocess.run(
            [KAOHE, "import", ledger], env=served.env, stdout=subprocess.PIPE, stderr=child, timeout=120
        )
        os.close(child)
        child = -1
        shown = b""
        while True:
            try:
                piece = os.read(parent, 4096)
            except OSError:  # the terminal's other end is closed: all of it was read
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(parent)
        if child >= 0:
            os.close(child)
    assert done.returncode == 0, done.stdout
    progress = shown.decode("utf-8")
    assert f"上传 {lines} 行" in progress and "行/秒" in progress, progress
    # stderr a file: nothing but the summary on stdout, and --json stays one document.
    quiet = served.kaohe("import", ledger, "--json")
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["lines"] == lines
