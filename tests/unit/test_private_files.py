"""Private files and folders: Kaohe's own are 0600/0700; a shared sticky folder (/tmp) is never tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from services.common.files import private_dir, private_file


def test_a_missing_folder_is_made_private_and_the_file_0600(tmp_path: Path) -> None:
    made = private_file(tmp_path / "new" / "audit.log")
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700


def test_a_shared_sticky_folder_is_left_open(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_file(shared / "x.db")
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "x.db").stat().st_mode) == 0o600


def test_an_existing_folder_holding_a_file_is_the_operators_choice(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    os.chmod(chosen, 0o750)
    private_file(chosen / "scoring.db")
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o750
    # ... while a folder Kaohe is told is its own private one is tightened.
    private_dir(chosen)
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700
