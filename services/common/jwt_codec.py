"""Kaohe's HS256 JWTs underneath people's tokens and the internal credential: the key ring, signing,
reading, why a token is refused, and the caller its claims name."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from services.common.auth import Identity, derive_key
from services.common.errors import Unauthenticated

__all__ = ["ALGORITHM", "KeyRing", "decode", "encode", "identity_of", "key_id", "refusal"]

ALGORITHM = "HS256"


@dataclass(frozen=True)
class KeyRing:
    """The key new tokens are signed with (by its id) and every key still accepted, by id."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id must be one of the keys")

    @classmethod
    def from_secrets(cls, current: bytes, *, retired: Sequence[bytes] = (), purpose: bytes) -> KeyRing:
        """A ring derived from the deployment's secret and the retired secrets still accepted.

        The key id is a fingerprint of the derived key, so replacing the secret changes the id by itself,
        and it reveals nothing of the key.
        """
        keys: dict[str, bytes] = {}
        for secret in (current, *retired):
            key = derive_key(secret, purpose)
            keys.setdefault(key_id(key), key)
        return cls(current=key_id(derive_key(current, purpose)), keys=keys)

    def key(self, kid: object) -> bytes:
        """The accepted key of that id, else Unauthenticated."""
        if not isinstance(kid, str) or kid not in self.keys:
            raise Unauthenticated("令牌的签名密钥未知或已停用")
        return self.keys[kid]


def key_id(key: bytes) -> str:
    """A short public name for a key."""
    return hmac.new(key, b"kaohe-key-id", hashlib.sha256).hexdigest()[:16]


def encode(claims: dict[str, Any], ring: KeyRing) -> str:
    """The claims signed with the ring's current key, its id in the header."""
    return jwt.encode(claims, ring.keys[ring.current], algorithm=ALGORITHM, headers={"kid": ring.current})


def decode(
    token: str, *, ring: KeyRing, issuer: str, audience: str, required: list[str], leeway: int
) -> dict[str, Any]:
    """The claims of a token our ring signed, or Unauthenticated naming the broken check (never the token)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("令牌格式不对") from None
    key = ring.key(header.get("kid"))
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(refusal(exc)) from None


def refusal(exc: jwt.PyJWTError) -> str:
    """Why a token is refused, in words that never quote the token."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "令牌已过期"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "令牌是发给其他接收方的"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "令牌来自其他签发方"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"令牌缺少 {exc.claim} 声明"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "令牌签名验证不通过"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "令牌的签名算法不被接受"
    if isinstance(exc, (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError)):
        return "令牌的签发时间在未来"
    if isinstance(exc, jwt.DecodeError):
        return "令牌格式不对"
    return "令牌无效"


def identity_of(claims: Mapping[str, Any], *, roles: Sequence[str]) -> Identity:
    """The caller the claims name, when the role is known and a department names its unit."""
    role, unit, subject = claims.get("role"), claims.get("unit") or "", claims.get("sub")
    if not isinstance(role, str) or role not in roles:
        raise Unauthenticated("令牌中的角色无法识别")
    if not isinstance(unit, str) or not isinstance(subject, str):
        raise Unauthenticated("令牌内容格式不对")
    if role == "department" and not unit:
        raise Unauthenticated("部门令牌须写明所属单位")
    generation = claims.get("gen", 0)
    if not isinstance(generation, int):
        raise Unauthenticated("令牌内容格式不对")
    return Identity(
        role=role, unit=unit, subject=subject, expires_at=int(claims["exp"]), generation=generation
    )
