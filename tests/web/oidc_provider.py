"""A small OIDC provider on loopback for the tests: discovery, JWKS, authorize and token, real HTTP, RS256.

It signs in whoever the test names (`provider.person`) without a page of its own, and holds the console
to the authorization-code flow with PKCE: the code once, for the client and redirect it was given to, and
only with the verifier whose S256 challenge came with the authorization request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _basic(header: str) -> tuple[str, str]:
    """HTTP Basic client credentials, each part form-urldecoded (RFC 6749 §2.3.1)."""
    if not header.startswith("Basic "):
        return "", ""
    user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(secret)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    person: dict[str, Any]


@dataclass
class Provider:
    """The provider's state; `person` holds the claims of whoever signs in next."""

    client_id: str
    client_secret: str = ""  # set: the token endpoint wants it by HTTP Basic (a confidential client)
    issuer: str = ""
    person: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    rogue_key: Any = None
    sign_with_rogue_key: bool = False
    grants: dict[str, Grant] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)  # every authorization request's parameters
    refused: list[str] = field(default_factory=list)  # every token request refused, and why
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "test-1", "use": "sig", "alg": "RS256"}]}

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 600,
            "nonce": grant.nonce,
            **grant.person,
        }
        key = self.rogue_key if self.sign_with_rogue_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-1"})

    def start(self) -> Provider:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.provider = self  # type: ignore[attr-defined]
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="test-oidc", daemon=True).start()
        return self

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, q: dict[str, str]) -> str:
        """The redirect back with a code for whoever `person` is; "" when the request is refused."""
        self.seen.append(q)
        if q.get("client_id") != self.client_id or q.get("code_challenge_method") != "S256":
            return ""
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            q["client_id"], q["redirect_uri"], q["code_challenge"], q["nonce"], dict(self.person)
        )
        return f"{q['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': q['state']})}"

    def token(self, form: dict[str, str], authorization: str = "") -> tuple[int, dict[str, Any]]:
        """The token endpoint: the code once, for its client and redirect, with the PKCE verifier."""
        grant = self.grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        why = ""
        if self.client_secret and _basic(authorization) != (self.client_id, self.client_secret):
            why = "client authentication"
        elif grant is None:
            why = "unknown or used code"
        elif form.get("grant_type") != "authorization_code":
            why = "grant_type"
        elif (form.get("client_id"), form.get("redirect_uri")) != (grant.client_id, grant.redirect_uri):
            why = "client or redirect_uri"
        elif _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            why = "PKCE verifier"
        if why or grant is None:
            self.refused.append(why)
            return 400, {"error": "invalid_grant", "error_description": why}
        token = self.id_token(grant)
        return 200, {"id_token": token, "access_token": token, "token_type": "Bearer", "expires_in": 600}

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class Handler(BaseHTTPRequestHandler):
    """Discovery, JWKS, authorize (a redirect at once) and token, for the provider on its server."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def provider(self) -> Provider:
        found: Provider = self.server.provider  # type: ignore[attr-defined]
        return found

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/.well-known/openid-configuration":
            self._json(self.provider.discovery())
        elif url.path == "/jwks":
            self._json(self.provider.jwks())
        elif url.path == "/authorize":
            back = self.provider.authorize(dict(urllib.parse.parse_qsl(url.query)))
            if not back:
                self._json({"error": "invalid_request"}, 400)
                return
            self.send_response(302)
            self.send_header("Location", back)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/token":
            self._json({"error": "not_found"}, 404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        status, answer = self.provider.token(form, self.headers.get("Authorization", ""))
        self._json(answer, status)
