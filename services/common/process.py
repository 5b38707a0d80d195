"""One service process run by itself: options, settings, server, background loops, /metrics and health.

Each service's `__main__` builds what it serves (a `Serving`) from a `Context`; `run_service` does the rest
the same way for all of them: starts the background loops, serves /metrics (not in a worker: its
supervisor serves them all), marks health NOT_SERVING while the database is away, and stops everything on
SIGTERM/SIGINT. `kaohe serve-one NAME` and `python -m services.NAME` both end here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry

from services.common import logs, tls, workers
from services.common.db import Database
from services.common.errors import DomainError
from services.common.rpc import serve_until_signalled
from services.common.runtime import start_metrics, watch_database
from services.common.settings import ConfigError, Settings, load
from services.common.tokens import TokenKeys, load_token_keys

log = logging.getLogger("kaohe.process")


@dataclass(frozen=True)
class ServiceOptions:
    """What the command line gives one service process (`kaohe serve-one` or `python -m services.NAME`)."""

    service: str
    port: int
    metrics_port: int | None
    data_dir: str | None = None
    scheme: str | None = None
    plaintext: bool = False
    # The reminders file (tasks only); else KAOHE_NOTIFY_FILE.
    notify: str | None = None

    def argv(self) -> list[str]:
        """These options again as `kaohe serve-one` arguments (for the workers of a supervisor)."""
        return [
            *["serve-one", self.service, "--port", str(self.port)],
            *(["--metrics-port", str(self.metrics_port)] if self.metrics_port is not None else []),
            *(["--data-dir", self.data_dir] if self.data_dir else []),
            *(["--scheme", self.scheme] if self.scheme else []),
            *(["--plaintext"] if self.plaintext else []),
            *(["--notify", self.notify] if self.notify else []),
        ]


def parse_options(service: str, argv: Sequence[str] | None = None) -> ServiceOptions:
    """`python -m services.NAME --port P --metrics-port M [--data-dir D] [--scheme S] [--plaintext]`."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("--port", type=int, required=True, help="gRPC 端口")
    parser.add_argument("--metrics-port", type=int, required=True, help="Prometheus 指标（/metrics）端口")
    parser.add_argument("--data-dir", help="数据目录：SQLite 数据库与密钥（默认 ./var）")
    parser.add_argument("--scheme", help="考核方案文件（TOML，默认 schemes/default.toml）")
    parser.add_argument("--plaintext", action="store_true", help="不用 TLS（仅限本机回环地址的开发环境）")
    if service == "tasks":
        parser.add_argument("--notify", help="催办配置文件（TOML，默认 KAOHE_NOTIFY_FILE）")
    args = parser.parse_args(argv)
    return ServiceOptions(
        service=service,
        port=args.port,
        metrics_port=args.metrics_port,
        data_dir=args.data_dir,
        scheme=args.scheme,
        plaintext=args.plaintext,
        notify=getattr(args, "notify", None),
    )


@dataclass(frozen=True)
class Context:
    """What a service builds itself from: its settings, secret, address and certificate."""

    options: ServiceOptions
    settings: Settings
    keys: TokenKeys
    address: str
    tls: tls.TlsConfig | None
    # One of several processes sharing the port (started by a supervisor).
    worker: bool


@dataclass
class Background:
    """A loop a service runs beside its server: started before it serves, stopped after it stops."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], None]


@dataclass
class Serving:
    """What one service process serves: its server, health, metrics, database and background loops."""

    server: grpc.Server
    health: health.HealthServicer
    registry: CollectorRegistry
    # Watched: health NOT_SERVING under health_names while it is out of reach.
    database: Database | None = None
    health_names: list[str] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)
    # Called when it starts to stop, before the grace period: streams that never end of themselves end
    # here, so that the stop does not wait the whole grace for them.
    draining: list[Callable[[], None]] = field(default_factory=list)


def say(service: str, message: str) -> None:
    """One line on stderr for the operator, the first line of message only."""
    print(f"kaohe serve-one {service}: {message.splitlines()[0]}", file=sys.stderr, flush=True)


def service_tls(service: str, settings: Settings, *, plaintext: bool) -> tls.TlsConfig | None:
    """KAOHE_TLS_CA/CERT/KEY, else the files `kaohe serve` keeps in DIR/tls/; None only with --plaintext."""
    if plaintext:
        return None
    config = tls.tls_config_from_env()
    if config is not None:
        return config
    files = tls.TlsFiles(settings.data_dir / "tls")
    if files.ca.exists() and files.cert(service).exists():
        return tls.load_tls_config(ca=files.ca, cert=files.cert(service), key=files.key(service))
    raise ConfigError(
        f"没有 TLS 证书：请设置 {tls.ENV_CA}、{tls.ENV_CERT} 和 {tls.ENV_KEY}"
        f"（或先运行一次 `kaohe serve` 以生成 {files.directory}），或在回环地址上用 --plaintext"
    )


def context(options: ServiceOptions, *, host: Callable[[Settings], str] | None = None) -> Context:
    """The settings and credentials of options; a bad one is a ConfigError (one line)."""
    settings = load(data_dir=options.data_dir, scheme=options.scheme)
    address = f"{host(settings) if host is not None else settings.bind_host}:{options.port}"
    if options.plaintext and not tls.is_loopback(address):
        raise ConfigError(f"--plaintext 只用于本机回环地址上的开发，不能用于 {address}")
    return Context(
        options=options,
        settings=settings,
        keys=load_token_keys(settings.data_dir),
        address=address,
        tls=service_tls(options.service, settings, plaintext=options.plaintext),
        worker=workers.is_worker(),
    )


def run_service(
    options: ServiceOptions,
    build: Callable[[Context], Serving],
    *,
    host: Callable[[Settings], str] | None = None,
) -> int:
    """Builds the service and serves it until a signal; bad configuration: one line on stderr, exit 2."""
    service = options.service
    logs.configure(service)
    if options.metrics_port is None:
        say(service, "须给出 --metrics-port")
        return 2
    if workers.is_worker():
        workers.follow_supervisor()
    on_stop: list[Callable[[], None]] = []
    try:
        ctx = context(options, host=host)
        serving = build(ctx)
        if not ctx.worker:  # a worker's values go to its supervisor's folder, served there for them all
            settings = ctx.settings
            metrics = start_metrics(
                options.metrics_port, settings.metrics_host, serving.registry, token=settings.metrics_token
            )
            on_stop.append(metrics)
        for loop in serving.background:
            loop.start()
            on_stop.insert(0, loop.stop)
    except (ConfigError, DomainError, OSError) as exc:
        say(service, str(exc))
        return 2
    log.info("serving", extra={"address": ctx.address, "metrics_port": options.metrics_port})
    if serving.database is not None:
        # NOT_SERVING while the database is out of reach, so that a balancer and `kaohe status` can tell.
        on_stop.insert(0, watch_database(serving.database, serving.health, serving.health_names))

    def stop_all() -> None:
        for stop in on_stop:
            stop()

    def drain() -> None:
        for end in serving.draining:
            end()

    serve_until_signalled(serving.server, serving.health, on_stop=stop_all, on_drain=drain)
    log.info("stopped")
    return 0
