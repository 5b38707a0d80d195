"""Composition root of the web console: the WSGI app on a threaded HTTP(S) server."""

from __future__ import annotations

import logging
import os
import signal
import socketserver
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from services.common.settings import ConfigError
from services.common.tls import is_loopback
from services.web.app import Console
from services.web.gateway import Gateway
from services.web.shared_sessions import SharedSessions

log = logging.getLogger("kaohe.web")
ENV_HOST = "KAOHE_WEB_BIND_HOST"
ENV_CERT = "KAOHE_WEB_TLS_CERT"
ENV_KEY = "KAOHE_WEB_TLS_KEY"


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per connection, so one slow page does not hold up the others."""

    daemon_threads = True
    request_queue_size = 64


class SharedPortServer(ThreadingServer):
    """One of several console processes on one port: SO_REUSEPORT set before bind."""

    allow_reuse_port = True


class QuietHandler(WSGIRequestHandler):
    """Request lines go to the structured log, not to stderr in the access-log format."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http", extra={"request": format % args})


@dataclass
class Running:
    server: ThreadingServer
    port: int
    console: Console
    scheme: str

    def serve(self) -> threading.Thread:
        thread = threading.Thread(target=self.server.serve_forever, name="kaohe-web", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.console.gw.close()


def tls_files(cert: str | None = None, key: str | None = None) -> tuple[Path, Path] | None:
    """The console's certificate and key: explicit, else KAOHE_WEB_TLS_CERT / KAOHE_WEB_TLS_KEY."""
    cert = cert or os.environ.get(ENV_CERT)
    key = key or os.environ.get(ENV_KEY)
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError(f"the web console needs both {ENV_CERT} and {ENV_KEY}")
    return Path(cert), Path(key)


def create(
    *,
    host: str,
    port: int,
    gateway_address: str,
    tls: tuple[Path, Path] | None = None,
    gateway_ca: Path | None = None,
    reuse_port: bool = False,
    sessions_file: Path | None = None,
) -> Running:
    """A console bound to host:port; plain HTTP only on loopback, HTTPS with tls elsewhere.

    reuse_port: one of several console processes sharing the port (KAOHE_WEB_PROCESSES); sessions_file:
    the sessions they share (a browser's next connection may reach another of them).
    """
    if tls is None and not is_loopback(host):
        raise ConfigError(
            f"the web console listens on {host}, beyond this machine: give it a certificate "
            f"({ENV_CERT} and {ENV_KEY}) or bind it to 127.0.0.1"
        )
    sessions = SharedSessions(sessions_file) if sessions_file is not None else None
    console = Console(Gateway(gateway_address, gateway_ca), sessions=sessions)
    if sessions is not None and console.oidc is not None:
        # The provider's redirect back may reach another console process than the one that sent it.
        console.oidc.store = sessions.oidc_pending()
    server_class = SharedPortServer if reuse_port else ThreadingServer
    server = make_server(host, port, console, server_class=server_class, handler_class=QuietHandler)
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(tls[0]), str(tls[1]))
        except (OSError, ssl.SSLError) as exc:
            server.server_close()
            raise ConfigError(f"cannot load the web console's certificate: {exc}") from None
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.base_environ["HTTPS"] = "on"
        scheme = "https"
    return Running(server, int(server.server_address[1]), console, scheme)


def serve_until_signalled(running: Running) -> None:
    """Serves until SIGTERM or SIGINT."""
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    running.serve()
    stop.wait()
    running.stop()


def main(*, port: int) -> int:
    """`kaohe serve-one web`: the console for the gateway at KAOHE_GATEWAY, until a signal."""
    from services.common import settings, workers

    host = os.environ.get(ENV_HOST, "127.0.0.1")
    worker = workers.is_worker()
    try:
        if worker:
            workers.follow_supervisor()
        else:
            count = workers.process_count("web")
            if count > 1:
                if not workers.port_free(host, port):
                    raise ConfigError(f"port {port} (web console) is taken")
                command = [sys.executable, "-m", "services.cli.main", "serve-one", "web", "--port", str(port)]
                log.info("serving", extra={"address": f"{host}:{port}", "processes": count})
                return workers.supervise("web", count, command, address=(host, port))
        running = create(
            host=host,
            port=port,
            gateway_address=settings.gateway_address(),
            tls=tls_files(),
            reuse_port=worker,
            sessions_file=(shared / "sessions.sqlite") if (shared := workers.shared_folder()) else None,
        )
    except (ConfigError, OSError) as exc:
        print(f"kaohe serve-one web: {exc}", flush=True, file=sys.stderr)
        return 2
    log.info("serving", extra={"address": f"{running.scheme}://{host}:{running.port}/"})
    serve_until_signalled(running)
    log.info("stopped")
    return 0
