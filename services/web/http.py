"""A small WSGI toolkit: requests, responses, a router, HTML escaping — enough for the console."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

# A signed-in request's body (a ledger upload) at most; before sign-in (a login form) far less, refused
# unread beyond (413): nobody unknown makes the console hold megabytes.
MAX_BODY = 32 * 1024 * 1024
ANONYMOUS_BODY = 64 * 1024
# HTTPS only, for a year, once a browser has reached the console over it.
HSTS = ("Strict-Transport-Security", "max-age=31536000")
STATUS = {
    200: "200 OK",
    303: "303 See Other",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    411: "411 Length Required",
    413: "413 Payload Too Large",
    422: "422 Unprocessable Entity",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'",
    ),
]


def esc(value: object) -> str:
    """Text safe inside HTML, attributes included."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass
class Upload:
    filename: str
    data: bytes


@dataclass
class Request:
    """What a handler needs of one HTTP request."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    remote: str
    secure: bool
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    _form: dict[str, str] | None = None
    _files: dict[str, Upload] = field(default_factory=dict)
    # The caller's session as the app found it on arrival (looked up once a request: each look-up of a
    # shared session may write its idle expiry).
    session: Any = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any], *, max_body: int = MAX_BODY) -> Request:
        """The request; its body read only when Content-Length is a number no greater than max_body."""
        text = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not text.isdigit():
            raise HttpError(400, "请求头 Content-Length 不是数字")
        length = int(text)
        if length > max_body:
            raise HttpError(413, "上传的内容太大" if max_body >= MAX_BODY else "请求体太大，请先登录")
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        raw_path = _raw_path(environ, path)
        if any(ord(c) < 32 or ord(c) == 127 for c in path) or "%00" in raw_path:
            raise HttpError(400, "请求的路径含有控制字符")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie = SimpleCookie()
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=path,
            raw_path=raw_path,
            query=query,
            headers=headers,
            cookies={k: m.value for k, m in cookie.items()},
            remote=str(environ.get("REMOTE_ADDR", "")),
            secure=environ.get("wsgi.url_scheme") == "https",
            body=body,
        )

    @property
    def form(self) -> dict[str, str]:
        if self._form is None:
            self._form = {}
            kind = self.headers.get("content-type", "")
            if kind.startswith("multipart/form-data"):
                self._parse_multipart(kind)
            elif kind.startswith("application/x-www-form-urlencoded"):
                text = self.body.decode("utf-8", "replace")
                self._form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return self._form

    @property
    def files(self) -> dict[str, Upload]:
        _ = self.form
        return self._files

    def _parse_multipart(self, kind: str) -> None:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode("latin-1") + self.body
        )
        form: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                self._files[name] = Upload(filename, payload)
            else:
                form[name] = payload.decode("utf-8", "replace")
        self._form = form

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HttpError(400, "请求体不是 JSON") from None


def _raw_path(environ: dict[str, Any], path: str) -> str:
    """The path as sent, still percent-encoded: an id's own "/" (encoded %2F) stays inside its segment."""
    scope = environ.get("asgi.scope")
    raw = scope.get("raw_path") if isinstance(scope, dict) else None
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").split("?", 1)[0]
    return quote(path)


class HttpError(Exception):
    """Ends a request with a status and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A large download passed on piece by piece (body unused): its length told up front, never held whole.
    stream: Iterable[bytes] | None = None
    stream_length: int = 0

    def cookie(self, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
        """A session-grade cookie: HttpOnly, SameSite=Strict, Secure under TLS."""
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if secure:
            parts.append("Secure")
        self.headers.append(("Set-Cookie", "; ".join(parts)))


def part(value: object) -> str:
    """An id as one path segment or query value: every character but letters, digits and _.-~ encoded."""
    return quote(str(value), safe="")


def page(body: str, status: int = 200) -> Response:
    return Response(body.encode("utf-8"), status)


def redirect(path: str, **params: str) -> Response:
    """See other: a path of ours, with its query (a message for the next page) percent-encoded."""
    # "%" kept: a path may carry an id already encoded as one segment (/tasks/A%2FB).
    location = quote(path, safe="/%") + (f"?{urlencode(params)}" if params else "")
    return Response(b"", 303, headers=[("Location", location)])


def as_json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status, "application/json; charset=utf-8")


def download(data: bytes, filename: str, content_type: str) -> Response:
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(data, 200, content_type, [("Content-Disposition", disposition)])


Handler = Callable[[Request], Response]


class Router:
    """Routes `/office/runs/{id}/publish`-style paths by method; {name} matches one path segment."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
        self.routes.append((method, re.compile(regex), handler))

    def match(self, request: Request) -> Handler:
        """The handler of the path as sent; each {name} is one encoded segment, decoded for the handler."""
        allowed = False
        for method, regex, handler in self.routes:
            found = regex.match(request.raw_path)
            if found is None:
                continue
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                request.params = {k: unquote(v) for k, v in found.groupdict().items()}
                return handler
            allowed = True
        raise HttpError(405 if allowed else 404, "不允许的请求方法" if allowed else "没有这个页面")


def respond(
    response: Response, start_response: Callable[..., Any], *, secure: bool = False
) -> Iterable[bytes]:
    cached = any(name == "Cache-Control" for name, _ in response.headers)
    length = response.stream_length if response.stream is not None else len(response.body)
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(length)),
        *([] if cached else [("Cache-Control", "no-store")]),
        *SECURITY_HEADERS,
        *([HSTS] if secure else []),
        *response.headers,
    ]
    start_response(STATUS.get(response.status, f"{response.status} Status"), headers)
    return response.stream if response.stream is not None else [response.body]
