"""Running one service process: metrics endpoint, scheme, secret, clean failure on bad configuration."""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from grpc_health.v1 import health, health_pb2
from prometheus_client import CollectorRegistry, make_wsgi_app

from services.common.db import Database
from services.common.errors import SchemeInvalid
from services.common.scheme import Scheme, load_scheme_file
from services.common.settings import ConfigError
from services.common.tls import is_loopback

log = logging.getLogger("kaohe.runtime")


def load_scheme_or_fail(path: Path) -> Scheme:
    """The scheme the service runs with; an unreadable or invalid one is a configuration error."""
    try:
        return load_scheme_file(path)
    except SchemeInvalid as exc:
        raise ConfigError(f"scheme {path}: {exc}") from None


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def guarded(app: Callable[..., Iterable[bytes]], token: str) -> Callable[..., Iterable[bytes]]:
    """app behind `Authorization: Bearer token` (compared in constant time); no token, no guard."""
    expected = f"Bearer {token}".encode()

    def check(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = str(environ.get("HTTP_AUTHORIZATION", "")).encode("utf-8", "replace")
        if token and not hmac.compare_digest(given, expected):
            start_response(
                "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]
            )
            return [b"/metrics wants the bearer token (KAOHE_METRICS_TOKEN)\n"]
        return app(environ, start_response)

    return check


def watch_database(
    db: Database, servicer: health.HealthServicer, names: Iterable[str], *, every: float = 2.0
) -> Callable[[], None]:
    """Health NOT_SERVING while the database is out of reach, SERVING once it answers; returns its stop."""
    stop = threading.Event()
    names = list(names)

    def watch() -> None:
        serving = True
        while not stop.wait(every):
            reachable = db.reachable()
            if reachable == serving:
                continue
            serving = reachable
            log.warning("database reachable" if reachable else "database unreachable: NOT_SERVING")
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if reachable
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in names:
                servicer.set(name, status)

    threading.Thread(target=watch, name="database-health", daemon=True).start()
    return stop.set


def start_metrics(
    port: int, host: str, registry: CollectorRegistry, *, token: str = ""
) -> Callable[[], None]:
    """Serves /metrics; returns its stop function. A taken port is a configuration error.

    Off loopback it needs a bearer token: scoring's metrics carry every unit's indicator values.
    """
    if not token and not is_loopback(host):
        raise ConfigError(f"{host} 上的 /metrics 须设置 KAOHE_METRICS_TOKEN（持有者令牌）；回环地址不需要")
    try:
        server = make_server(
            host.strip("[]"),
            port,
            guarded(make_wsgi_app(registry), token),
            server_class=_Server6 if ":" in host else _Server,
            handler_class=_Quiet,
        )
    except OSError as exc:
        raise ConfigError(f"无法在 {host}:{port} 上提供 /metrics：{exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
