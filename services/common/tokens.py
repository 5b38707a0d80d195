"""Standard tokens (JWT): people's tokens, the per-call internal credential, and an optional OIDC provider.

The key ring and the signing and reading underneath them are in jwt_codec.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from services.common.auth import (
    INTERNAL_ROLE,
    ROLES,
    Identity,
    load_retired_secrets,
    load_secret,
)
from services.common.errors import Unauthenticated, Unavailable
from services.common.jwt_codec import KeyRing as KeyRing
from services.common.jwt_codec import decode, encode, identity_of, refusal
from services.common.jwt_codec import key_id as key_id
from services.common.settings import ConfigError

ISSUER = "kaohe"
AUDIENCE = "kaohe-gateway"
INTERNAL_ISSUER = "kaohe-internal"
# Purposes of their own, so neither a JWT key nor the old `kh1` keys can stand in for another.
USER_JWT_PURPOSE = b"kaohe-user-jwt"
INTERNAL_JWT_PURPOSE = b"kaohe-internal-jwt"
USER_TTL_SECONDS = 12 * 3600
INTERNAL_TTL_SECONDS = 30
# Clocks of the machines a deployment runs on agree to a few seconds; a person's token gets more slack.
USER_LEEWAY_SECONDS = 30
INTERNAL_LEEWAY_SECONDS = 5
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "role"]


@dataclass(frozen=True)
class TokenKeys:
    """The two rings a deployment derives from its secret (and the retired secrets it still accepts)."""

    user: KeyRing
    internal: KeyRing

    @classmethod
    def from_secrets(cls, current: bytes, *, retired: Sequence[bytes] = ()) -> TokenKeys:
        return cls(
            user=KeyRing.from_secrets(current, retired=retired, purpose=USER_JWT_PURPOSE),
            internal=KeyRing.from_secrets(current, retired=retired, purpose=INTERNAL_JWT_PURPOSE),
        )


def issue_user_token(
    identity: Identity,
    *,
    ring: KeyRing,
    ttl_seconds: int = USER_TTL_SECONDS,
    now: float | None = None,
    generation: int | None = None,
) -> str:
    """A person's token for the gateway, signed with the ring's current key.

    generation (a login's): the account's token generation, which the gateway checks on every call.
    """
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": identity.subject or identity.role,
        "role": identity.role,
        "unit": identity.unit,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    if generation is not None:
        claims["gen"] = generation
    return encode(claims, ring)


def verify_user_token(token: str, *, ring: KeyRing, leeway: int = USER_LEEWAY_SECONDS) -> Identity:
    """The person a token names, when our ring signed it for the gateway and it has not expired."""
    claims = decode(
        token, ring=ring, issuer=ISSUER, audience=AUDIENCE, required=_REQUIRED_CLAIMS, leeway=leeway
    )
    return identity_of(claims, roles=ROLES)


def hash_request(data: bytes) -> bytes:
    """The digest an internal credential binds a call's request to (SHA-256 of its serialized bytes)."""
    return hashlib.sha256(data).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_internal(
    identity: Identity,
    *,
    method: str,
    ring: KeyRing,
    ttl_seconds: int = INTERNAL_TTL_SECONDS,
    request_digest: bytes | None = None,
    now: float | None = None,
    stream_digest: bytes | None = None,
) -> str:
    """A credential for one call: this full method name, the caller's identity, seconds of life.

    With request_digest it holds for that request only, so a captured credential cannot carry another;
    with stream_digest, for that stream of requests only (the receiver checks it when the stream ends).
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": INTERNAL_ISSUER,
        "aud": method,
        "sub": identity.subject or identity.role,
        "role": identity.role,
        "unit": identity.unit,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    if request_digest is not None:
        claims["rqh"] = _b64(request_digest)
    if stream_digest is not None:
        claims["sqh"] = _b64(stream_digest)
    return encode(claims, ring)


def verify_internal(
    token: str,
    *,
    method: str,
    ring: KeyRing,
    request_bytes: bytes | None = None,
    require_request_hash: bool = False,
    leeway: int = INTERNAL_LEEWAY_SECONDS,
    require_stream_hash: bool = False,
) -> Identity:
    """The caller a credential carries, when it was made for this method (and this request) and is fresh."""
    claims = decode(
        token,
        ring=ring,
        issuer=INTERNAL_ISSUER,
        audience=method,
        required=_REQUIRED_CLAIMS,
        leeway=leeway,
    )
    bound = claims.get("rqh")
    if bound is not None:
        if request_bytes is None:
            raise Unauthenticated("凭据绑定的请求与本次调用不符")
        if not isinstance(bound, str) or not hmac.compare_digest(bound, _b64(hash_request(request_bytes))):
            raise Unauthenticated("凭据是为另一个请求签发的")
    elif require_request_hash:
        raise Unauthenticated("凭据没有绑定到它的请求")
    if require_stream_hash and not isinstance(claims.get("sqh"), str):
        raise Unauthenticated("凭据没有绑定到它的数据流")
    return identity_of(claims, roles=(*ROLES, INTERNAL_ROLE))


def stream_claim(token: str) -> str:
    """The stream digest a credential names (base64url), read from a token verify_internal has passed."""
    claim = jwt.decode(token, options={"verify_signature": False}).get("sqh")
    return claim if isinstance(claim, str) else ""


def same_digest(claim: str, digest: bytes) -> bool:
    """Whether a digest claim names this digest (compared in constant time)."""
    return hmac.compare_digest(claim, _b64(digest))


class OidcVerifier:
    """Verifies an OIDC provider's RS256/ES256 tokens against its JWKS (fetched over HTTP(S), cached)."""

    ALGORITHMS = ("RS256", "ES256")

    def __init__(
        self,
        issuer: str,
        jwks_url: str,
        audience: str,
        role_claim: str = "roles",
        unit_claim: str = "kaohe_unit",
        role_map: Mapping[str, str] | None = None,
        *,
        leeway: int = USER_LEEWAY_SECONDS,
        cache_seconds: float = 300,
        timeout: float = 5,
    ) -> None:
        mapping = dict(role_map or {role: role for role in ROLES})
        unknown = sorted(set(mapping.values()) - set(ROLES))
        if unknown:
            raise ValueError(f"角色映射指向不存在的角色：{'、'.join(unknown)}")
        self.issuer = issuer
        self.audience = audience
        self.role_claim = role_claim
        self.unit_claim = unit_claim
        self.role_map = mapping
        self.leeway = leeway
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=cache_seconds, timeout=timeout)

    def verify(self, token: str) -> Identity:
        """The person a provider's token names, its provider role mapped to a Kaohe role."""
        try:
            signing_key = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("无法取得统一身份认证的公钥") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("令牌的签名密钥不是统一身份认证公布的") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(refusal(exc)) from None
        try:
            claims = jwt.decode(
                token,
                signing_key,
                algorithms=list(self.ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(refusal(exc)) from None
        role = self._role(_claim(claims, self.role_claim))
        unit = (_claim(claims, self.unit_claim) or "") if role == "department" else ""
        if not isinstance(unit, str):
            raise Unauthenticated(f"{self.unit_claim} 声明须为文本")
        return identity_of(
            {"role": role, "unit": unit, "sub": claims["sub"], "exp": claims["exp"]}, roles=ROLES
        )

    def _role(self, value: object) -> str:
        """The most trusted Kaohe role any of the provider's values maps to."""
        values = value if isinstance(value, list) else [value]
        mapped = {self.role_map[v] for v in values if isinstance(v, str) and v in self.role_map}
        for role in ROLES:
            if role in mapped:
                return role
        raise Unauthenticated(f"{self.role_claim} 声明没有赋予任何考核角色")


def _claim(claims: Mapping[str, Any], path: str) -> object:
    """A claim by dotted path (`realm_access.roles`), None when absent."""
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def verify_bearer(token: str, *, ring: KeyRing, oidc: OidcVerifier | None = None) -> Identity:
    """A person's token from either door: Kaohe's own (iss "kaohe") or the configured provider."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise Unauthenticated("令牌格式不对") from None
    if oidc is not None and issuer == oidc.issuer:
        return oidc.verify(token)
    return verify_user_token(token, ring=ring)


def bearer_authenticator(
    ring: KeyRing, *, oidc: OidcVerifier | None = None
) -> Callable[[dict[str, str], str], Identity]:
    """For the gateway: a person's JWT in `authorization: Bearer …`, shaped like auth.bearer_authenticator."""

    def authenticate(metadata: dict[str, str], method: str) -> Identity:
        header = metadata.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Unauthenticated("缺少令牌：请带 `authorization: Bearer <令牌>`（kaohe token 生成）")
        return verify_bearer(header[7:].strip(), ring=ring, oidc=oidc)

    return authenticate


def load_token_keys(data_dir: Path | None, *, create: bool = False) -> TokenKeys:
    """The rings of this deployment: KAOHE_SECRET (or DIR/secret) and KAOHE_SECRET_RETIRED."""
    return TokenKeys.from_secrets(load_secret(data_dir, create=create), retired=load_retired_secrets())


def oidc_from_env(environ: Mapping[str, str] | None = None) -> OidcVerifier | None:
    """The county's identity provider when KAOHE_OIDC_ISSUER is set (with its JWKS URL and audience)."""
    env = os.environ if environ is None else environ
    issuer = env.get("KAOHE_OIDC_ISSUER", "").strip()
    if not issuer:
        return None
    jwks_url = env.get("KAOHE_OIDC_JWKS_URL", "").strip()
    audience = env.get("KAOHE_OIDC_AUDIENCE", "").strip()
    if not jwks_url or not audience:
        raise ConfigError("KAOHE_OIDC_ISSUER needs KAOHE_OIDC_JWKS_URL and KAOHE_OIDC_AUDIENCE")
    role_map: dict[str, str] | None = None
    if env.get("KAOHE_OIDC_ROLE_MAP", "").strip():
        role_map = {}
        for pair in env["KAOHE_OIDC_ROLE_MAP"].split(","):
            provider, _, kaohe = pair.partition("=")
            if not provider.strip() or not kaohe.strip():
                raise ConfigError("KAOHE_OIDC_ROLE_MAP：请写成以逗号分隔的 provider_role=kaohe_role")
            role_map[provider.strip()] = kaohe.strip()
    try:
        return OidcVerifier(
            issuer,
            jwks_url,
            audience,
            role_claim=env.get("KAOHE_OIDC_ROLE_CLAIM", "").strip() or "roles",
            unit_claim=env.get("KAOHE_OIDC_UNIT_CLAIM", "").strip() or "kaohe_unit",
            role_map=role_map,
        )
    except ValueError as exc:
        raise ConfigError(f"KAOHE_OIDC_ROLE_MAP: {exc}") from None
