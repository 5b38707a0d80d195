"""统一身份认证登录: the console as an OIDC client (authorization code with PKCE) of the county's provider.

authlib speaks the protocol (the authorization URL with its S256 challenge, the code exchanged at the token
endpoint) and checks the id_token against the provider's JWKS (signature, iss, aud, exp, nonce). The token is
then handed to the gateway, which verifies it as it verifies any provider token (KAOHE_OIDC_ISSUER, _JWKS_URL,
_AUDIENCE): the role and the unit are the gateway's reading of the claims, and the session is the same as a
password login's. The sign-ins under way are kept in the sessions' store: the provider's redirect back may
reach another console process than the one that sent the browser off.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

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
# The id_token's signature algorithms the console accepts (never "none", never a shared-secret HMAC).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
# Clock skew allowed between the provider and the console when reading exp and iat.
LEEWAY_SECONDS = 60


def state_cookie(state: str, *, secure: bool) -> tuple[str, str]:
    """The sign-in's state in this browser (empty: cleared). Lax, not Strict: the provider's redirect back
    is a navigation from another site, on which a Strict cookie is not sent."""
    age = PENDING_SECONDS if state else 0
    value = f"{STATE_COOKIE}={state}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={age}"
    return ("Set-Cookie", value + ("; Secure" if secure else ""))


class OidcError(Exception):
    """The sign-in cannot go on; the message is for people (Chinese)."""


@dataclass(frozen=True)
class Tokens:
    """What the provider's token endpoint gave back, its id_token checked: the token for the gateway and
    who signed in."""

    token: str
    name: str
    username: str


def _encode_basic(client: Any, method: str, uri: str, headers: dict[str, str], body: str) -> Any:
    """client_secret_basic as RFC 6749 §2.3.1 has it: each part form-urlencoded before Basic joins them
    (authlib joins them raw, which a client id or secret with ":" or "%" would break)."""
    pair = ":".join(urllib.parse.quote(part, safe="") for part in (client.client_id, client.client_secret))
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return uri, headers, body


def _refused_reply(reply: requests.Response) -> None:
    """A provider's refusal (an HTTP error) in Chinese, with what it said."""
    if reply.status_code >= 400:
        detail = reply.content[:300].decode("utf-8", "replace")
        raise OidcError(f"统一身份认证拒绝了请求（HTTP {reply.status_code}）：{detail}")


def _token_reply(reply: requests.Response) -> requests.Response:
    """authlib's hook on the token endpoint's answer: a refusal becomes an OidcError before it reads it."""
    _refused_reply(reply)
    return reply


class OidcLogin:
    """The provider's discovery and keys, the sign-ins under way, the code exchanged for checked tokens."""

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
            raise ConfigError(f"{ENV_TOKEN} 须为 id_token 或 access_token，不能是 {token_kind!r}")
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
        self._keys: tuple[float, KeySet] | None = None

    # The provider ------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The issuer's `/.well-known/openid-configuration`, kept an hour."""
        now = self.clock()
        cached = self._discovery
        if cached is not None and now - cached[0] < DISCOVERY_SECONDS:
            return cached[1]
        document = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str) or not document[key]:
                raise OidcError(f"统一身份认证的发现文档缺少 {key}")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError("统一身份认证的发现文档所述签发方与配置不符")
        self._discovery = (now, document)
        return document

    def keys(self, *, fresh: bool = False) -> KeySet:
        """The provider's signing keys (its JWKS), kept as long as its discovery; fresh: asked again."""
        now = self.clock()
        cached = self._keys
        if not fresh and cached is not None and now - cached[0] < DISCOVERY_SECONDS:
            return cached[1]
        try:
            document: Any = self._get_json(str(self.discovery()["jwks_uri"]))
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcError("统一身份认证的公钥集（JWKS）无法读取") from None
        self._keys = (now, keys)
        return keys

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            reply = requests.get(url, headers={"Accept": "application/json"}, timeout=self.timeout)
            _refused_reply(reply)
            data = reply.json()
        except (requests.RequestException, ValueError):
            raise OidcError("统一身份认证服务不可达，请稍后再试或用账号密码登录") from None
        if not isinstance(data, dict):
            raise OidcError("统一身份认证的答复不是 JSON 对象")
        return data

    def _client(self, redirect_uri: str) -> Any:
        """authlib's OAuth 2 client for one step of one sign-in (a requests session; not shared between
        threads)."""
        client = OAuth2Session(
            self.client_id,
            self.client_secret or None,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        client.register_client_auth_method(("client_secret_basic", _encode_basic))
        client.register_compliance_hook("access_token_response", _token_reply)
        return client

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
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state, code_verifier=verifier, nonce=nonce
            )
        return str(url), state

    def take(self, state: str, cookie_state: str) -> Pending:
        """The sign-in state names, once, when this browser started it and it has not expired."""
        if not state or not cookie_state or not secrets.compare_digest(state, cookie_state):
            raise OidcError("登录状态不符（可能是过期或伪造的回调），请重新登录")
        pending = self.store.pop_pending(state)
        if pending is None or self.clock() - pending.started >= PENDING_SECONDS:
            raise OidcError("登录已超时，请重新登录")
        return pending

    def exchange(self, code: str, pending: Pending) -> Tokens:
        """The authorization code (with the PKCE verifier) for the provider's tokens, the id_token checked:
        signed by the provider's key, issued by it to this client, not expired, for this sign-in (nonce)."""
        if not code:
            raise OidcError("统一身份认证没有给出授权码")
        endpoint = str(self.discovery()["token_endpoint"])
        try:
            with self._client(pending.redirect_uri) as client:
                answer = client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.verifier,
                    client_id=self.client_id,
                    timeout=self.timeout,
                )
        except requests.RequestException:
            raise OidcError("统一身份认证服务不可达，请稍后再试或用账号密码登录") from None
        except AuthlibBaseError as exc:
            raise OidcError(f"统一身份认证拒绝了请求：{exc}") from None
        except ValueError:
            raise OidcError("统一身份认证的答复不是 JSON 对象") from None
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("统一身份认证没有给出 id_token")
        token = answer.get(self.token_kind)
        if not isinstance(token, str) or not token:
            raise OidcError(f"统一身份认证没有给出 {self.token_kind}")
        claims = self.id_token_claims(id_token, pending.nonce)
        name = claims.get("name") or claims.get("preferred_username") or claims.get("sub") or ""
        username = claims.get("preferred_username") or claims.get("sub") or ""
        return Tokens(token, str(name), str(username))

    def id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The id_token's claims once its signature (the provider's JWKS, asked again once for a key it
        does not hold yet), issuer, audience, expiry and nonce are right."""
        try:
            try:
                decoded = jwt.decode(id_token, self.keys(), algorithms=ALGORITHMS)
            except (BadSignatureError, ValueError):
                decoded = jwt.decode(id_token, self.keys(fresh=True), algorithms=ALGORITHMS)
        except BadSignatureError:
            raise OidcError("统一身份认证的令牌未被接受：签名无法用其公钥验证") from None
        except (JoseError, ValueError):
            raise OidcError("统一身份认证给出的 id_token 无法解析") from None
        checked = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [self.issuer, f"{self.issuer}/"]}, "aud": {"values": [self.client_id]}},
            {"nonce": nonce, "client_id": self.client_id},
        )
        try:
            checked.validate(now=int(self.clock()), leeway=LEEWAY_SECONDS)
        except ExpiredTokenError:
            raise OidcError("统一身份认证的令牌未被接受：已过期，请重新登录") from None
        except MissingClaimError as exc:
            raise OidcError(f"统一身份认证的令牌未被接受：缺少 {exc.claim}") from None
        except InvalidClaimError as exc:
            if exc.claim == "nonce":
                raise OidcError("统一身份认证的 id_token 与本次登录不符（nonce），请重新登录") from None
            raise OidcError(f"统一身份认证的令牌未被接受：{exc.claim} 不符") from None
        except JoseError:
            raise OidcError("统一身份认证的令牌未被接受") from None
        return dict(decoded.claims)


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
