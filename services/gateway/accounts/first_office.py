"""The first office account, made at the gateway's first start; its one-time password left for the operator.

The password never goes to a log: it is written to DATA_DIR/first-office-password (0600), where `kaohe
serve` finds it and shows it on the terminal that started it (removing the file), or leaves it for an
operator without a terminal (systemd, Docker).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from services.common.settings import FIRST_PASSWORD_FILE
from services.gateway.accounts.storage import open_database
from services.gateway.accounts.use_cases import ensure_first_office

log = logging.getLogger("kaohe.gateway.accounts")


def first_password_path(data_dir: Path) -> Path:
    """Where the gateway leaves the first office account's one-time password."""
    return data_dir / FIRST_PASSWORD_FILE


def ensure_first_office_account(data_dir: Path, db_url: str) -> Path | None:
    """The `admin` office account when there is no office account: its password's file, else None."""
    db = open_database(db_url)
    try:
        password = ensure_first_office(db)
    finally:
        db.dispose()
    if not password:
        return None
    path = first_password_path(data_dir)
    # Whole or not at all: whoever reads the file never sees it half written.
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(password + "\n")
    os.replace(partial, path)
    log.warning(
        "已创建首个考核办账号 admin；一次性密码在 %s（仅本人可读），首次登录后必须修改",
        path,
    )
    return path
