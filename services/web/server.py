"""The console's HTTP(S) server: uvicorn (TLS in its event loop) running the ASGI app, behind two guards:
small bodies read before a page thread is taken, and the security headers on every answer."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import uvicorn
from starlette.datastructures import MutableHeaders
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.settings import ConfigError
from services.web.app import ANONYMOUS_BODY, Console

# HTTPS only, for a year, once a browser has reached the console over it.
HSTS = "max-age=31536000"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}
# A request's head (its line and headers) arrives within this long of the connection or the last answer.
HEAD_SECONDS = 20.0
# A small body (a form, a login) must arrive whole within this long, or the request ends with 408.
BODY_SECONDS = 30.0
STOP_SECONDS = 10.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SmallBodiesFirst:
    """Reads a small body (≤ ANONYMOUS_BODY) in the event loop before a page thread is taken.

    A client that trickles its form a byte a second then holds a coroutine, not one of PAGE_THREADS. A
    larger body is left to the app, which refuses it unread (413) unless the request is signed in.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > ANONYMOUS_BODY:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        try:
            async with asyncio.timeout(BODY_SECONDS):
                while more and len(body) <= ANONYMOUS_BODY:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    more = bool(message.get("more_body", False))
        except TimeoutError:
            await _plain(send, 408, "请求体在 30 秒内没有传完")
            return
        if len(body) > ANONYMOUS_BODY:
            # A chunked body past the small limit: its size is unknown until read, so it is not read on.
            await _plain(send, 411, "较大的请求体须给出 Content-Length")
            return
        if length is None and body:
            # A chunked body now read whole: the app reads what Content-Length says.
            kept = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
            scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


class Guarded:
    """Every answer with the security headers (HSTS under TLS) and no-store unless it says otherwise; a
    path with a control character (%00 included) refused before any route sees it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, raw = str(scope.get("path", "")), bytes(scope.get("raw_path") or b"")
        if any(ord(c) < 32 or ord(c) == 127 for c in path) or b"%00" in raw:
            await _plain(send, 400, "请求的路径含有控制字符")
            return
        https = scope.get("scheme") == "https"

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if https:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, guarded)


class TimelyHeads(HttpToolsProtocol):
    """httptools as uvicorn drives it, and one more bound: a request's head must arrive within HEAD_SECONDS.

    uvicorn arms no timer before a first request nor while a head trickles in, so an idle connection or a
    head never finished (a bare HTTP/0.9 `GET /`) would hold its connection, and its file, for ever.
    """

    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # A pipelined request already has its head; only an empty line waits for the next one.
        waiting = bool(self.pipeline)
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.head_timer = self.loop.call_later(HEAD_SECONDS, self._late)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _late(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """The listening socket; reuse_port: one of several console processes on the port (SO_REUSEPORT)."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Running:
    """A console bound to its port; serve() in a thread (tests) or run() until a signal (a process)."""

    server: uvicorn.Server
    sock: socket.socket
    port: int
    console: Console
    scheme: str
    thread: threading.Thread | None = None

    def serve(self) -> threading.Thread:
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="kaohe-web", daemon=True
        )
        self.thread.start()
        return self.thread

    def run(self) -> None:
        """Serves in this thread until SIGTERM or SIGINT (uvicorn's own handlers)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.close()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(STOP_SECONDS)
        self.close()

    def close(self) -> None:
        self.sock.close()
        self.console.gw.close()


def start(
    console: Console,
    *,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None,
    reuse_port: bool,
    trusted_proxies: str,
) -> Running:
    """uvicorn for console on host:port: httptools, TLS when given, X-Forwarded-* from trusted_proxies."""
    config = uvicorn.Config(
        Guarded(SmallBodiesFirst(cast(Any, console))),
        http=TimelyHeads,
        loop="asyncio",
        lifespan="off",
        interface="asgi3",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
        server_header=False,
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(STOP_SECONDS),
    )
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"无法加载网页控制台的证书：{exc}") from None
    if config.ssl is not None:
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    # uvicorn's own lines ("Started server process") say nothing a person running the county needs.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    sock = bind(host, port, reuse_port=reuse_port)
    server = uvicorn.Server(config)
    return Running(server, sock, int(sock.getsockname()[1]), console, "https" if tls else "http")
