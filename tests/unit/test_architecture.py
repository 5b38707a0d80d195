"""The arrows between the rooms run one way: the import contracts of pyproject.toml hold.

The contracts ([tool.importlinter] in pyproject.toml, explained in docs/architecture.md) are run by
import-linter as `make lint` runs them; a broken one fails here with import-linter's report, which names
each import that runs the wrong way and the line it is on.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is not installed: pip install -e '.[dev]' (import-linter)"
    return found


def test_import_contracts_hold() -> None:
    done = subprocess.run(
        [_lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"an import runs the wrong way (docs/architecture.md):\n{report}"
    assert "0 broken" in report, report


def test_contracts_cover_every_room() -> None:
    """A new top-level package under services/ must be placed in the rooms contract, not slip past it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    rooms = next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("Rooms"))
    placed = {name.strip() for layer in rooms["layers"] for name in layer.replace(":", "|").split("|")}
    packages = {f"services.{path.parent.name}" for path in (ROOT / "services").glob("*/__init__.py")}
    assert packages - placed == set(), (
        f"packages under services/ in no layer of the rooms contract: {packages - placed}"
    )
