"""统一身份认证登录: the console as an OIDC client (authorization code with PKCE) of the county's provider.

The provider's endpoints come from its discovery document; the token it gives back is handed to the gateway,
which verifies it as it verifies any provider token (KAOHE_OIDC_ISSUER, _JWKS_URL, _AUDIENCE): the role and
the unit are the gateway's reading of the claims, and the session is the same as a password login's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from services.common.settings import ConfigError
from services.web.sessions import Pending, Sessions

ENV_ISSUER = "KAOHE_OIDC_ISSUER"
ENV_CLIENT_ID = "KAOHE_OIDC_CLIENT_ID"
ENV_CLIENT_SECRET = "KAOHE_OIDC_CLIENT_SECRET"
ENV_REDIRECT_URI = "KAOHE_OIDC_REDIRECT_URI"
ENV_SCOPES = "KAOHE_OIDC_SCOPES"
ENV_TOKEN = "KAOHE_OIDC_WEB_TOKEN"
TOKEN_KINDS = ("id_token", "access_token")
CALLBACK = "/login/oidc/callback"
STATE_COOKIE = "kaohe_oidc_state"
# A sign-in started must come back within this long.
PENDING_SECONDS = 600
DISCOVERY_SECONDS = 3600


LOGIN_LINK = '<p class="oidc"><a class="button" id="oidc-login" href="/login/oidc">统一身份认证登录</a></p>'


def state_cookie(state: str, *, secure: bool) -> tuple[str, str]:
    """The sign-in's state in this browser (empty: cleared). Lax, not Strict: the provider's redirect back
    is a navigation from another site, on which a Strict cookie is not sent."""
    age = PENDING_SECONDS if state else 0
    value = f"{STATE_COOKIE}={state}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={age}"
    return ("Set-Cookie", value + ("; Secure" if secure else ""))


def signed_in_page(target: str) -> str:
    """A page of ours that moves on to the desk, not a redirect: the chain began on the provider's site,
    and a SameSite=Strict session cookie is only sent on a navigation that starts here."""
    label = "本单位考核" if target == "/unit" else "全县态势"
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>登录成功 · 考核</title></head>'
        f'<body><p>登录成功，正在进入 <a href="{target}">{label}</a>……</p></body></html>'
    )


class OidcError(Exception):
    """The sign-in cannot go on; the message is for people (Chinese)."""


@dataclass(frozen=True)
class Tokens:
    """What the provider's token endpoint gave back: the one for the gateway, and the id_token's nonce."""

    token: str
    nonce: str
    name: str
    username: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def challenge_of(verifier: str) -> str:
    """PKCE S256 (RFC 7636): the challenge sent with the authorization request."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


class OidcLogin:
    """The provider's discovery, the sign-ins under way, the code exchanged for tokens."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        client_secret: str = "",
        redirect_uri: str = "",
        scopes: str = "openid profile",
        token_kind: str = "id_token",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if token_kind not in TOKEN_KINDS:
            raise ConfigError(f"{ENV_TOKEN} must be id_token or access_token, not {token_kind!r}")
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes if "openid" in scopes.split() else f"openid {scopes}".strip()
        self.token_kind = token_kind
        self.timeout = timeout
        self.clock = clock
        # The sessions' store (set by the console): the redirect back may reach another console process.
        self.store = Sessions()
        self._discovery: tuple[float, dict[str, Any]] | None = None

    # The provider ------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """`<issuer>/.well-known/openid-configuration`, kept an hour."""
        now = self.clock()
        cached = self._discovery
        if cached is not None and now - cached[0] < DISCOVERY_SECONDS:
            return cached[1]
        url = f"{self.issuer}/.well-known/openid-configuration"
        document = self._json(urllib.request.Request(url, headers={"Accept": "application/json"}))
        for key in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(document.get(key), str) or not document[key]:
                raise OidcError(f"统一身份认证的发现文档缺少 {key}")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError("统一身份认证的发现文档所述签发方与配置不符")
        self._discovery = (now, document)
        return document

    def _json(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                data = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise OidcError(f"统一身份认证拒绝了请求（HTTP {exc.code}）：{detail}") from None
        except (OSError, ValueError):
            raise OidcError("统一身份认证服务不可达，请稍后再试或用账号密码登录") from None
        if not isinstance(data, dict):
            raise OidcError("统一身份认证的答复不是 JSON 对象")
        return data

    # The sign-in -------------------------------------------------------------------------------------

    def callback_uri(self, host_url: str) -> str:
        """Where the provider sends the browser back: configured, else this console's own callback."""
        return self.redirect_uri or f"{host_url.rstrip('/')}{CALLBACK}"

    def start(self, host_url: str) -> tuple[str, str]:
        """(the provider's authorization URL, the state): a new sign-in with its PKCE verifier and nonce."""
        endpoint = str(self.discovery()["authorization_endpoint"])
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        redirect_uri = self.callback_uri(host_url)
        now = self.clock()
        self.store.put_pending(
            state, Pending(verifier, nonce, redirect_uri, now), older_than=now - PENDING_SECONDS
        )
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge_of(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", state

    def take(self, state: str, cookie_state: str) -> Pending:
        """The sign-in state names, once, when this browser started it and it has not expired."""
        if not state or not cookie_state or not secrets.compare_digest(state, cookie_state):
            raise OidcError("登录状态不符（可能是过期或伪造的回调），请重新登录")
        pending = self.store.pop_pending(state)
        if pending is None or self.clock() - pending.started >= PENDING_SECONDS:
            raise OidcError("登录已超时，请重新登录")
        return pending

    def exchange(self, code: str, pending: Pending) -> Tokens:
        """The authorization code (with the PKCE verifier) for the provider's tokens."""
        if not code:
            raise OidcError("统一身份认证没有给出授权码")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending.verifier,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.client_secret:
            # RFC 6749 §2.3.1: each part form-urlencoded before the Basic scheme joins them.
            user, secret = (
                urllib.parse.quote(part, safe="") for part in (self.client_id, self.client_secret)
            )
            pair = f"{user}:{secret}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        request = urllib.request.Request(
            str(self.discovery()["token_endpoint"]),
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers=headers,
            method="POST",
        )
        answer = self._json(request)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("统一身份认证没有给出 id_token")
        token = answer.get(self.token_kind)
        if not isinstance(token, str) or not token:
            raise OidcError(f"统一身份认证没有给出 {self.token_kind}")
        # Read only: the gateway verifies the signature, and the nonce is compared after it has (see app).
        try:
            claims = jwt.decode(id_token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OidcError("统一身份认证给出的 id_token 无法解析") from None
        name = claims.get("name") or claims.get("preferred_username") or claims.get("sub") or ""
        username = claims.get("preferred_username") or claims.get("sub") or ""
        return Tokens(token, str(claims.get("nonce", "")), str(name), str(username))

    def id_token_nonce_ok(self, tokens: Tokens, pending: Pending) -> bool:
        return bool(tokens.nonce) and secrets.compare_digest(tokens.nonce, pending.nonce)


def oidc_login_from_env(environ: Mapping[str, str] | None = None) -> OidcLogin | None:
    """The console's 统一身份认证登录 when KAOHE_OIDC_ISSUER and KAOHE_OIDC_CLIENT_ID are set."""
    env = os.environ if environ is None else environ
    issuer = env.get(ENV_ISSUER, "").strip()
    client_id = env.get(ENV_CLIENT_ID, "").strip()
    if not issuer or not client_id:
        return None
    return OidcLogin(
        issuer,
        client_id,
        client_secret=env.get(ENV_CLIENT_SECRET, ""),
        redirect_uri=env.get(ENV_REDIRECT_URI, "").strip(),
        scopes=env.get(ENV_SCOPES, "").strip() or "openid profile",
        token_kind=env.get(ENV_TOKEN, "").strip() or "id_token",
    )
