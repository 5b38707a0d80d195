"""Composition root of the gateway: backends, policy, audit log, server — and `python -m services.gateway`,
which runs it (one process, or KAOHE_GATEWAY_PROCESSES workers on one port) with /metrics, after making the
first office account on a first start."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc, gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from prometheus_client import CollectorRegistry, Counter

from services.common import logs, workers
from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.clients import Backend
from services.common.errors import DomainError, InvalidArgument
from services.common.files import private_file
from services.common.ids import check_request_ids
from services.common.process import (
    Background,
    Context,
    ServiceOptions,
    Serving,
    parse_options,
    run_service,
    say,
)
from services.common.rpc import RpcMetrics, ServiceInterceptor, create_server, current_identity
from services.common.runtime import start_metrics
from services.common.settings import DEFAULT_MAX_REQUEST_BYTES, ConfigError, Settings, load
from services.common.tls import TlsConfig
from services.common.tokens import OidcVerifier, TokenKeys, bearer_authenticator, oidc_from_env
from services.gateway.accounts.first_office import ensure_first_office_account
from services.gateway.accounts.rpc import AccountsServicer, checked_sessions, open_login
from services.gateway.accounts.storage import gateway_db_url, open_database
from services.gateway.accounts.units import unit_lister
from services.gateway.accounts.use_cases import LOGIN_METHOD, Accounts, jwt_issuer
from services.gateway.bulletin_issues import IssueNumbers, MemoryIssueNumbers, StoredIssueNumbers
from services.gateway.proxy import proxy_handler
from services.gateway.rpc import GatewayServicer
from services.gateway.use_cases import Backends, GatewayApp

GATEWAY_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"]
TASKS_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["TasksService"]
SCORING_SERVICE = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"]
ACCOUNTS_SERVICE = accounts_pb2.DESCRIPTOR.services_by_name["AccountsService"]
ANONYMOUS = Identity(role="", subject="")
# What the gateway answers for (the accounts too, when it has their database).
SERVED = (GATEWAY_SERVICE.full_name, TASKS_SERVICE.full_name, SCORING_SERVICE.full_name)
log = logging.getLogger("kaohe.gateway")


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: GatewayApp
    registry: CollectorRegistry
    backends: Backends


class AuditLog:
    """Every refusal and every change the gateway sees: who, what, when — as JSON lines in a file and the log.

    The services' own audit tables are the record of what changed (written in each change's transaction);
    this file is the gateway's view. It is checked at start-up, and a failure to append to it later is
    logged and counted, never turned into an error for a call whose work has been done.
    """

    def __init__(self, path: Path | None, registry: CollectorRegistry) -> None:
        self.path = path
        # The gateway's audit table, when it has a database (accounts): the same lines, kept for good.
        self.table: AuditTrail | None = None
        self.logger = logging.getLogger("kaohe.audit")
        self.denied = Counter(
            "kaohe_permission_denied",
            "Calls refused for lack of permission, by role.",
            ["role"],
            registry=registry,
        )
        self.failures = Counter(
            "kaohe_audit_write_failures",
            "Audit lines the gateway could not append to its file.",
            registry=registry,
        )
        if path is not None:
            try:
                private_file(path)
            except OSError as exc:
                raise ConfigError(f"无法写入审计日志 {path}：{exc.strerror or exc}") from None

    def __call__(self, identity: Identity, method: str, outcome: str, detail: str = "") -> None:
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "subject": identity.subject,
            "role": identity.role,
            "unit": identity.unit,
            "method": method,
            "outcome": outcome,
            "detail": detail,
        }
        if outcome == "denied":
            self.denied.labels(identity.role).inc()
        # A change to accounts is in the table already, written in the change's own transaction.
        in_table = outcome == "changed" and method.startswith(f"/{ACCOUNTS_SERVICE.full_name}/")
        if self.table is not None and not in_table:
            self.table.note(actor=identity, method=method, outcome=outcome, detail=detail)
        self.logger.info("audit", extra={"audit": entry})
        if self.path is not None:
            try:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            except OSError:
                self.failures.inc()
                self.logger.exception("the audit line was not written", extra={"audit": entry})

    def refused(self, *, actor: Identity | None, method: str, code: str, reason: str) -> None:
        """A call refused before any policy was asked: a failed login (no token, a bad or expired one),
        or a request that does not parse."""
        # A failed login with a password is audited by Login itself, naming the account.
        if code == "UNAUTHENTICATED" and method != LOGIN_METHOD:
            self(actor or ANONYMOUS, method, "unauthenticated", reason)
        elif code == "INVALID_ARGUMENT":
            self(actor or ANONYMOUS, method, "invalid", reason)

    def checked_ids(self, method: str, request: Any) -> None:
        """Every id in a request of the safe alphabet (services/common/ids.py), else refused and audited."""
        try:
            check_request_ids(request)
        except InvalidArgument as exc:
            self(current_identity(), method, "invalid", str(exc))
            raise


class RelayingHealth(health.HealthServicer):  # type: ignore[misc]
    """The gateway's health, and the health of each service behind it as the gateway reaches it.

    People's clients cannot ask tasks and scoring (they take only the services' certificates), so
    `kaohe status` asks the gateway under the services' names.
    """

    def __init__(self, backends: Backends) -> None:
        super().__init__(experimental_non_blocking=True)
        self.backends = {TASKS_SERVICE.full_name: backends.tasks, SCORING_SERVICE.full_name: backends.scoring}

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        backend = self.backends.get(request.service)
        mine: health_pb2.HealthCheckResponse = super().Check(request, context)
        if backend is None:
            return mine
        if mine.status != health_pb2.HealthCheckResponse.SERVING:
            return mine
        try:
            theirs: health_pb2.HealthCheckResponse = health_pb2_grpc.HealthStub(backend.raw_channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
            return theirs
        except grpc.RpcError:
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)


def _backends(
    *, keys: TokenKeys, tls: TlsConfig | None, tasks: str, scoring: str, registry: CollectorRegistry
) -> Backends:
    """The tasks and scoring services as the gateway calls them, each call they miss counted."""
    unavailable = Counter(
        "kaohe_backend_unavailable",
        "Calls a backend service did not answer, by backend.",
        ["backend"],
        registry=registry,
    )

    def count(name: str) -> None:
        unavailable.labels(name).inc()

    return Backends(
        tasks=Backend(
            name="tasks",
            target=tasks,
            service=TASKS_SERVICE.full_name,
            stub_class=tasks_pb2_grpc.TasksServiceStub,
            internal_stub_class=tasks_pb2_grpc.TasksInternalServiceStub,
            keys=keys,
            tls=tls,
            on_unavailable=count,
        ),
        scoring=Backend(
            name="scoring",
            target=scoring,
            service=SCORING_SERVICE.full_name,
            stub_class=scoring_pb2_grpc.ScoringServiceStub,
            internal_stub_class=scoring_pb2_grpc.ScoringInternalServiceStub,
            keys=keys,
            tls=tls,
            on_unavailable=count,
        ),
    )


def _accounts(url: str | None, *, keys: TokenKeys, audit: AuditLog, backends: Backends) -> Accounts | None:
    """The accounts in the gateway's database at url (its audit table the audit log's too); None without."""
    if not url:
        return None
    accounts = Accounts(
        open_database(url), issue=jwt_issuer(keys.user), audit=audit, units=unit_lister(backends.tasks)
    )
    accounts.trail.probe()
    audit.table = accounts.trail
    return accounts


def _registrar(
    *,
    app: GatewayApp,
    audit: AuditLog,
    numbers: IssueNumbers,
    accounts: Accounts | None,
    keys: TokenKeys,
    backends: Backends,
) -> Callable[[grpc.Server], None]:
    """What the gateway serves: its own service, the accounts (with their database) and the proxies to the
    public services of tasks and scoring (never their *InternalService)."""

    def register(server: grpc.Server) -> None:
        requests = accounts.db if accounts is not None else None
        servicer = GatewayServicer(app, audit, issue_numbers=numbers, requests=requests)
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)
        if accounts is not None:
            accounts_pb2_grpc.add_AccountsServiceServicer_to_server(
                AccountsServicer(accounts, audit, internal=keys.internal), server
            )
        server.add_generic_rpc_handlers(
            (
                proxy_handler(TASKS_SERVICE, backends.tasks, audit, wrote=app.versions.wrote),
                proxy_handler(SCORING_SERVICE, backends.scoring, audit, wrote=app.versions.wrote),
            )
        )

    return register


def create(
    *,
    address: str,
    keys: TokenKeys,
    tls: TlsConfig | None,
    tasks_addr: str,
    scoring_addr: str,
    audit_path: Path | None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    oidc: OidcVerifier | None = None,
    accounts_db_url: str | None = None,
    reuse_port: bool = False,
) -> Running:
    """A gateway bound to address, backends dialled lazily; not yet started. TLS to people (no client
    certificate), mutual TLS to the services; tls None is plaintext, for loopback development only. The
    bulletin's 期号 live beside the accounts; a gateway without their database counts them in memory."""
    registry = CollectorRegistry()
    audit = AuditLog(audit_path, registry)
    backends = _backends(keys=keys, tls=tls, tasks=tasks_addr, scoring=scoring_addr, registry=registry)
    app = GatewayApp(backends, registry=registry)
    accounts = _accounts(accounts_db_url, keys=keys, audit=audit, backends=backends)
    authenticate = open_login(bearer_authenticator(keys.user, oidc=oidc))
    if accounts is not None:
        authenticate = checked_sessions(authenticate, accounts)
    numbers = StoredIssueNumbers(accounts.db) if accounts is not None else MemoryIssueNumbers()
    interceptor = ServiceInterceptor(
        service="gateway",
        metrics=RpcMetrics(registry),
        authenticate=authenticate,
        on_refused=audit.refused,
        check=audit.checked_ids,
    )
    register = _registrar(
        app=app, audit=audit, numbers=numbers, accounts=accounts, keys=keys, backends=backends
    )
    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[*SERVED, *([ACCOUNTS_SERVICE.full_name] if accounts is not None else [])],
        interceptors=[interceptor],
        max_workers=32,
        tls=tls,
        require_client_auth=False,
        max_receive_bytes=max_request_bytes,
        health_servicer=RelayingHealth(backends),
        reuse_port=reuse_port,
    )
    return Running(server, port, health_servicer, app, registry, backends)


def build(context: Context) -> Serving:
    """The gateway of context: its accounts in DATA_DIR/gateway.db (or KAOHE_GATEWAY_DB_URL)."""
    settings = context.settings
    gateway = create(
        address=context.address,
        keys=context.keys,
        tls=context.tls,
        tasks_addr=settings.tasks_addr,
        scoring_addr=settings.scoring_addr,
        audit_path=settings.data_dir / "audit.log",
        max_request_bytes=settings.max_request_bytes,
        oidc=oidc_from_env(),
        accounts_db_url=gateway_db_url(settings.data_dir),
        reuse_port=context.worker,
    )
    if not context.worker:  # a supervisor makes it before its workers start
        ensure_first_office_account(settings.data_dir, gateway_db_url(settings.data_dir))
    versions = gateway.app.versions
    return Serving(
        gateway.server,
        gateway.health,
        gateway.registry,
        # Dialled before the first view, so that it finds the versions pushed already.
        background=[Background("version streams", versions.start, versions.stop)],
        draining=[versions.stop],
    )


def _bind_host(settings: Settings) -> str:
    return settings.gateway_bind_host


def _supervise(options: ServiceOptions, settings: Settings, count: int) -> int:
    """count gateway workers on one port (KAOHE_GATEWAY_PROCESSES), their /metrics served here."""
    port = options.port
    if not workers.port_free(settings.gateway_bind_host, port):
        raise ConfigError(f"端口 {port}（网关 gRPC）已被占用")
    command = [sys.executable, "-m", "services.cli.main", *options.argv()]
    metrics_port = options.metrics_port or 0

    def metrics(folder: str) -> Callable[[], None]:
        registry = workers.multiprocess_registry(folder)
        return start_metrics(metrics_port, settings.metrics_host, registry, token=settings.metrics_token)

    def first_office() -> None:
        # Once, here, when the first worker listens (its configuration good): never by each worker.
        try:
            ensure_first_office_account(settings.data_dir, gateway_db_url(settings.data_dir))
        except (DomainError, OSError):
            log.exception("the first office account was not made")

    log.info("serving", extra={"address": f"{settings.gateway_bind_host}:{port}", "processes": count})
    address = (settings.gateway_bind_host, port)
    code = workers.supervise("gateway", count, command, address=address, metrics=metrics, ready=first_office)
    log.info("stopped")
    return code


def run(options: ServiceOptions) -> int:
    """The gateway of options until a signal: one process, or KAOHE_GATEWAY_PROCESSES workers on its port;
    bad configuration → one line on stderr, exit 2."""
    if workers.is_worker() or options.metrics_port is None:
        return run_service(options, build, host=_bind_host)
    try:
        count = workers.process_count("gateway")
    except ConfigError as exc:
        say("gateway", str(exc))
        return 2
    if count == 1:
        return run_service(options, build, host=_bind_host)
    logs.configure("gateway")
    try:
        settings = load(data_dir=options.data_dir, scheme=options.scheme)
        return _supervise(options, settings, count)
    except (ConfigError, DomainError, OSError) as exc:
        say("gateway", str(exc))
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m services.gateway --port P --metrics-port M …` (or `kaohe serve-one gateway`)."""
    return run(parse_options("gateway", argv))


if __name__ == "__main__":
    raise SystemExit(main())
