"""Files only the service's own user may read: directories 0700, files 0600 (secrets, audit, databases,
spooled uploads)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """path as a directory of mode 0700, made (with its parents) when missing.

    A shared sticky directory (/tmp) is left as it is: tightening it would lock every other user and
    program out of it, and what Kaohe puts there is private by its own mode.
    """
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if mode & 0o777 != DIRECTORY_MODE and not mode & stat.S_ISVTX:
        os.chmod(path, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """path as a file of mode 0600, made empty when missing, its content kept; a missing folder made 0700."""
    if not path.parent.exists():
        # A folder made for it is private; one that exists is the operator's choice (its data
        # directory is made private where it is chosen: services/cli/serve.py), not ours to tighten.
        private_dir(path.parent)
    # O_CREAT with the mode, so that the file is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    if path.stat().st_mode & 0o777 != FILE_MODE:
        os.chmod(path, FILE_MODE)
    return path


def replace_private(path: Path, data: bytes) -> None:
    """Replaces path atomically with a 0600 file, so a reader never sees half a key or a key left open."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def spooled(directory: Path | None = None) -> Iterator[IO[bytes]]:
    """A private temporary file (0600) to read and write, removed when the block ends, whatever happens.

    In directory (made 0700 when missing), else in the system's temporary directory.
    """
    if directory is not None:
        private_dir(directory)
    fd, name = tempfile.mkstemp(prefix="kaohe-spool-", dir=directory)
    try:
        with os.fdopen(fd, "w+b") as spool:
            yield spool
    finally:
        with suppress(FileNotFoundError):
            os.unlink(name)
