"""Running one service process: metrics endpoint, scheme, secret, clean failure on bad configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from services.common.errors import SchemeInvalid
from services.common.scheme import Scheme, load_scheme_file
from services.common.settings import ConfigError

log = logging.getLogger("kaohe.runtime")


def load_scheme_or_fail(path: Path) -> Scheme:
    """The scheme the service runs with; an unreadable or invalid one is a configuration error."""
    try:
        return load_scheme_file(path)
    except SchemeInvalid as exc:
        raise ConfigError(f"scheme {path}: {exc}") from None


def start_metrics(port: int, host: str, registry: CollectorRegistry) -> Callable[[], None]:
    """Serves /metrics; returns its stop function. A taken port is a configuration error."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None
    return server.shutdown
