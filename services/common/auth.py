"""Signed bearer tokens for people and the internal credential between services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.common import vocabulary
from services.common.errors import InvalidArgument, Unauthenticated

ROLES = tuple(vocabulary.ROLES)
INTERNAL_ROLE = "internal"
_PREFIX = "kh1"
USER_PURPOSE = b"kaohe-user-token"
INTERNAL_PURPOSE = b"kaohe-internal-credential"
INTERNAL_METADATA = "x-kaohe-internal"


@dataclass(frozen=True)
class Identity:
    """Who is calling: a role, the unit a department is bound to, a subject, an expiry."""

    role: str
    unit: str = ""
    subject: str = ""
    expires_at: int = 0

    @property
    def is_department(self) -> bool:
        return self.role == "department"


SYSTEM = Identity(role=INTERNAL_ROLE, subject="system")


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    """A key for one purpose, so a person's token never passes as the internal credential."""
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(identity: Identity, *, key: bytes, ttl_seconds: int) -> str:
    """A token carrying the identity, valid for ttl_seconds."""
    payload = {
        "sub": identity.subject,
        "role": identity.role,
        "unit": identity.unit,
        "exp": int(time.time()) + ttl_seconds,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, f"{_PREFIX}.{body}".encode(), hashlib.sha256).digest()
    return f"{_PREFIX}.{body}.{_b64(mac)}"


def verify(token: str, *, key: bytes) -> Identity:
    """The identity of a token whose signature and expiry hold, else Unauthenticated."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise Unauthenticated("malformed token")
    try:
        mac = _unb64(parts[2])
    except ValueError:
        raise Unauthenticated("malformed token") from None
    expected = hmac.new(key, f"{_PREFIX}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Unauthenticated("token signature does not verify")
    try:
        payload = json.loads(_unb64(parts[1]))
        identity = Identity(
            role=str(payload["role"]),
            unit=str(payload.get("unit") or ""),
            subject=str(payload.get("sub") or ""),
            expires_at=int(payload["exp"]),
        )
    except (ValueError, KeyError, TypeError):
        raise Unauthenticated("malformed token payload") from None
    if identity.expires_at < time.time():
        raise Unauthenticated("token expired")
    return identity


def make_user_identity(*, role: str, unit: str | None, subject: str | None = None) -> Identity:
    """A person's identity, checked: a known role; a department needs its unit."""
    if role not in ROLES:
        raise InvalidArgument("role", f"must be one of {', '.join(ROLES)}")
    if role == "department" and not unit:
        raise InvalidArgument("unit", "a department token needs --unit")
    if role != "department" and unit:
        raise InvalidArgument("unit", "only a department token is bound to a unit")
    return Identity(role=role, unit=unit or "", subject=subject or (f"{role}:{unit}" if unit else role))


def load_secret(data_dir: Path | None, *, create: bool) -> bytes:
    """KAOHE_SECRET, else DIR/secret (created with mode 0600 when asked)."""
    env = os.environ.get("KAOHE_SECRET")
    if env:
        return env.encode()
    if data_dir is None:
        raise Unauthenticated("no secret: set KAOHE_SECRET or give the data dir")
    path = data_dir / "secret"
    if path.exists():
        return path.read_text().strip().encode()
    if not create:
        raise Unauthenticated(f"no secret: set KAOHE_SECRET or run `kaohe serve` once to create {path}")
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode()


class Keys:
    """The two keys a deployment derives from its one secret."""

    def __init__(self, secret: bytes) -> None:
        self.user = derive_key(secret, USER_PURPOSE)
        self.internal = derive_key(secret, INTERNAL_PURPOSE)

    def user_token(self, identity: Identity, ttl_seconds: int = 12 * 3600) -> str:
        return sign(identity, key=self.user, ttl_seconds=ttl_seconds)

    def internal_token(self, identity: Identity, ttl_seconds: int = 300) -> str:
        return sign(identity, key=self.internal, ttl_seconds=ttl_seconds)


def internal_authenticator(keys: Keys) -> Callable[[dict[str, str], str], Identity]:
    """For the internal services: only calls carrying the gateway's (or a peer's) credential."""

    def authenticate(metadata: dict[str, str], method: str) -> Identity:
        token = metadata.get(INTERNAL_METADATA)
        if not token:
            raise Unauthenticated(f"{method} is internal: call it through the gateway")
        return verify(token, key=keys.internal)

    return authenticate


def bearer_authenticator(keys: Keys) -> Callable[[dict[str, str], str], Identity]:
    """For the gateway: a person's signed bearer token in `authorization`."""

    def authenticate(metadata: dict[str, str], method: str) -> Identity:
        header = metadata.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Unauthenticated("missing bearer token: send `authorization: Bearer <token>` (kaohe token)")
        identity = verify(header[7:].strip(), key=keys.user)
        if identity.role not in ROLES:
            raise Unauthenticated(f"unknown role {identity.role!r}")
        if identity.role == "department" and not identity.unit:
            raise Unauthenticated("a department token must name its unit")
        return identity

    return authenticate
