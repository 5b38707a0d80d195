"""Composition root of the web console: the ASGI app and its sessions, served by uvicorn (server.py)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from services.common.errors import Unauthenticated
from services.common.settings import ConfigError
from services.common.tls import is_loopback
from services.common.tokens import KeyRing
from services.web.app import Console
from services.web.gateway import Gateway
from services.web.server import Running, start
from services.web.sessions import Sessions

__all__ = ["Running", "create", "main", "tls_files"]

log = logging.getLogger("kaohe.web")
ENV_HOST = "KAOHE_WEB_BIND_HOST"
ENV_CERT = "KAOHE_WEB_TLS_CERT"
ENV_KEY = "KAOHE_WEB_TLS_KEY"
# Addresses of the TLS-ending proxies in front of the console (comma-separated, or *): only from them are
# X-Forwarded-Proto / X-Forwarded-For believed, so that cookies stay Secure and HSTS is sent behind them.
ENV_TRUSTED_PROXIES = "KAOHE_WEB_TRUSTED_PROXIES"
# The console's address as browsers reach it (https://kaohe.example.gov.cn); the OIDC callback is under it.
ENV_PUBLIC_URL = "KAOHE_WEB_PUBLIC_URL"


def tls_files(cert: str | None = None, key: str | None = None) -> tuple[Path, Path] | None:
    """The console's certificate and key: explicit, else KAOHE_WEB_TLS_CERT / KAOHE_WEB_TLS_KEY."""
    cert = cert or os.environ.get(ENV_CERT)
    key = key or os.environ.get(ENV_KEY)
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError(f"网页控制台须同时设置 {ENV_CERT} 和 {ENV_KEY}")
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
    trusted_proxies: str | None = None,
    public_url: str | None = None,
    internal: KeyRing | None = None,
) -> Running:
    """A console bound to host:port; plain HTTP only on loopback, HTTPS with tls elsewhere.

    reuse_port: one of several console processes sharing the port (KAOHE_WEB_PROCESSES); sessions_file:
    the sessions they share (a browser's next connection may reach another of them).
    """
    if tls is None and not is_loopback(host):
        raise ConfigError(
            f"网页控制台监听 {host}，超出本机：请给它证书（{ENV_CERT} 和 {ENV_KEY}），或绑定到 127.0.0.1"
        )
    proxies = os.environ.get(ENV_TRUSTED_PROXIES, "") if trusted_proxies is None else trusted_proxies
    public = os.environ.get(ENV_PUBLIC_URL, "") if public_url is None else public_url
    sessions = Sessions(sessions_file) if sessions_file is not None else None
    console = Console(Gateway(gateway_address, gateway_ca, internal=internal), sessions=sessions)
    try:
        running = start(
            console, host=host, port=port, tls=tls, reuse_port=reuse_port, trusted_proxies=proxies.strip()
        )
    except BaseException:
        console.gw.close()
        raise
    console.public_url = public.strip().rstrip("/") or _own_url(running.scheme, host, running.port)
    wildcard = host.strip("[]") in ("", "0.0.0.0", "::")
    if console.oidc is not None and not console.oidc.redirect_uri and not public.strip() and wildcard:
        running.close()
        raise ConfigError(
            f"控制台监听所有地址：请给出浏览器访问它的地址"
            f"（{ENV_PUBLIC_URL}）或 OIDC 回调地址（KAOHE_OIDC_REDIRECT_URI）"
        )
    return running


def _internal_ring() -> KeyRing | None:
    """The deployment's internal ring when its secret is readable here (kaohe serve's data dir or
    KAOHE_SECRET): with it the console's Logins carry the browser's address to the login throttle."""
    from services.common import settings
    from services.common.tokens import load_token_keys

    try:
        return load_token_keys(settings.load().data_dir).internal
    except (ConfigError, OSError, Unauthenticated):
        log.warning("no internal secret readable: browsers' logins are throttled by the console's address")
        return None


def _own_url(scheme: str, host: str, port: int) -> str:
    """The console's own listening address: the OIDC callback when nothing else is configured."""
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def main(*, port: int) -> int:
    """`kaohe serve-one web` (or `python -m services.web --port P`): the console for the gateway at
    KAOHE_GATEWAY, until a signal."""
    from services.common import logs, settings, workers

    logs.configure("web")
    host = os.environ.get(ENV_HOST, "127.0.0.1")
    worker = workers.is_worker()
    try:
        if worker:
            workers.follow_supervisor()
        else:
            count = workers.process_count("web")
            if count > 1:
                if not workers.port_free(host, port):
                    raise ConfigError(f"端口 {port}（网页控制台）已被占用")
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
            internal=_internal_ring(),
        )
    except (ConfigError, OSError) as exc:
        print(f"kaohe serve-one web: {exc}", flush=True, file=sys.stderr)
        return 2
    log.info("serving", extra={"address": f"{running.scheme}://{host}:{running.port}/"})
    running.run()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m services.web")
    parser.add_argument("--port", type=int, required=True, help="HTTP 端口")
    raise SystemExit(main(port=parser.parse_args().port))
