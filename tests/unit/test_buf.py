"""buf lint over protos/ (buf.yaml: STANDARD and a leading comment on everything), and the breaking-change
script's refusal to check before its baseline exists.

buf comes from `make tools` (npm, into .tools/); `make test` installs it first, so CI always runs these.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
needs_buf = pytest.mark.skipif(
    not BUF.exists(), reason=f"buf is not installed at {BUF.relative_to(ROOT)}: run `make tools`"
)


PACKAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "protos" / "kaohe").glob("*/v*") if p.is_dir())


@needs_buf
@pytest.mark.parametrize("package", PACKAGES)
def test_buf_lint_is_clean(package: str) -> None:
    result = subprocess.run(
        [str(BUF), "lint", "--path", package], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_buf
def test_buf_breaking_checks_nothing_before_its_baseline() -> None:
    if (ROOT / "protos" / "BREAKING_BASELINE").exists():
        pytest.skip("protos/BREAKING_BASELINE exists: `make lint` runs the check itself")
    result = subprocess.run(
        [str(ROOT / "scripts" / "buf_breaking.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BUF": str(BUF)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BREAKING_BASELINE" in result.stdout and "nothing checked" in result.stdout


@needs_buf
def test_no_breaking_change_since_the_previous_commit() -> None:
    """From protos/BREAKING_BASELINE on, a commit may not break a contract its predecessor published."""
    if not (ROOT / "protos" / "BREAKING_BASELINE").exists():
        pytest.skip("protos/BREAKING_BASELINE does not exist yet: nothing to compare with")
    result = subprocess.run(
        [str(ROOT / "scripts" / "buf_breaking.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BUF": str(BUF)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
