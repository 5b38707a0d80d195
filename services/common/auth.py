"""Who calls: the identity a token carries, the deployment's secret, the internal credential's header."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from services.common import vocabulary
from services.common.errors import InvalidArgument, Unauthenticated
from services.common.files import private_dir

ROLES = tuple(vocabulary.ROLES)
INTERNAL_ROLE = "internal"
INTERNAL_METADATA = "x-kaohe-internal"


@dataclass(frozen=True)
class Identity:
    """Who is calling: a role, the unit a department is bound to, a subject, an expiry."""

    role: str
    unit: str = ""
    subject: str = ""
    expires_at: int = 0
    # An account's token generation when its login made the token: an older one is refused.
    generation: int = 0

    @property
    def is_department(self) -> bool:
        return self.role == "department"


SYSTEM = Identity(role=INTERNAL_ROLE, subject="system")
# The gateway acting for nobody but itself: the versions it keeps its cached views by.
GATEWAY_SUBJECT = "gateway"
GATEWAY = Identity(role=INTERNAL_ROLE, subject=GATEWAY_SUBJECT)


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    """A key for one purpose, so a person's token never passes as the internal credential."""
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def make_user_identity(*, role: str, unit: str | None, subject: str | None = None) -> Identity:
    """A person's identity, checked: a known role; a department needs its unit."""
    if role not in ROLES:
        raise InvalidArgument("role", f"须为以下之一：{'、'.join(ROLES)}")
    if role == "department" and not unit:
        raise InvalidArgument("unit", "部门令牌须用 --unit 指定单位")
    if role != "department" and unit:
        raise InvalidArgument("unit", "只有部门令牌才绑定单位")
    return Identity(role=role, unit=unit or "", subject=subject or (f"{role}:{unit}" if unit else role))


def load_secret(data_dir: Path | None, *, create: bool) -> bytes:
    """KAOHE_SECRET, else DIR/secret (created with mode 0600 when asked)."""
    env = os.environ.get("KAOHE_SECRET")
    if env:
        return env.encode()
    if data_dir is None:
        raise Unauthenticated("没有密钥：请设置 KAOHE_SECRET 或给出数据目录")
    path = data_dir / "secret"
    if path.exists():
        return path.read_text().strip().encode()
    if not create:
        raise Unauthenticated(f"没有密钥：请设置 KAOHE_SECRET，或先运行一次 `kaohe serve` 以生成 {path}")
    private_dir(data_dir)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode()


def load_retired_secrets() -> list[bytes]:
    """KAOHE_SECRET_RETIRED: earlier secrets (comma-separated) whose tokens are still accepted."""
    return [
        part.strip().encode()
        for part in os.environ.get("KAOHE_SECRET_RETIRED", "").split(",")
        if part.strip()
    ]
