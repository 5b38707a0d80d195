"""Fixtures the end-to-end modules share: `kaohe serve` on the worked example's scheme."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import Served, start_served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`kaohe serve` on free ports over a fresh data directory, healthy; stopped afterwards."""
    stack = start_served(tmp_path)
    yield stack
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(timeout=20)
