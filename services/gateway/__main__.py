"""Composition root of the gateway: backends, policy, audit log, server."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc, gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from prometheus_client import CollectorRegistry, Counter

from services.common.auth import Identity, Keys, bearer_authenticator
from services.common.clients import Backend
from services.common.rpc import RpcMetrics, ServiceInterceptor, create_server
from services.gateway.accounts.rpc import AccountsServicer, open_login
from services.gateway.accounts.storage import open_database
from services.gateway.accounts.use_cases import Accounts
from services.gateway.proxy import proxy_handler
from services.gateway.rpc import GatewayServicer
from services.gateway.use_cases import Backends, GatewayApp

GATEWAY_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"]
TASKS_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["TasksService"]
SCORING_SERVICE = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"]
ACCOUNTS_SERVICE = accounts_pb2.DESCRIPTOR.services_by_name["AccountsService"]


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: GatewayApp
    registry: CollectorRegistry
    backends: Backends


class AuditLog:
    """Every refusal and every change: who, what, when — as JSON lines in a file and the log."""

    def __init__(self, path: Path | None, registry: CollectorRegistry) -> None:
        self.path = path
        self.logger = logging.getLogger("kaohe.audit")
        self.denied = Counter(
            "kaohe_permission_denied",
            "Calls refused for lack of permission, by role.",
            ["role"],
            registry=registry,
        )

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
        self.logger.info("audit", extra={"audit": entry})
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def create(
    *,
    address: str,
    keys: Keys,
    tasks_addr: str,
    scoring_addr: str,
    audit_path: Path | None,
    accounts_db_url: str | None = None,
) -> Running:
    """A gateway bound to address, its backends dialled lazily; not yet started."""
    registry = CollectorRegistry()
    audit = AuditLog(audit_path, registry)
    unavailable = Counter(
        "kaohe_backend_unavailable",
        "Calls a backend service did not answer, by backend.",
        ["backend"],
        registry=registry,
    )

    def count(name: str) -> None:
        unavailable.labels(name).inc()

    backends = Backends(
        tasks=Backend(
            name="tasks",
            target=tasks_addr,
            service=TASKS_SERVICE.full_name,
            stub_class=tasks_pb2_grpc.TasksServiceStub,
            keys=keys,
            on_unavailable=count,
        ),
        scoring=Backend(
            name="scoring",
            target=scoring_addr,
            service=SCORING_SERVICE.full_name,
            stub_class=scoring_pb2_grpc.ScoringServiceStub,
            keys=keys,
            on_unavailable=count,
        ),
    )
    app = GatewayApp(backends)
    accounts = (
        Accounts(open_database(accounts_db_url), issue=keys.user_token, audit=audit)
        if accounts_db_url
        else None
    )
    interceptor = ServiceInterceptor(
        service="gateway", metrics=RpcMetrics(registry), authenticate=open_login(bearer_authenticator(keys))
    )

    def register(server: grpc.Server) -> None:
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(GatewayServicer(app, audit), server)
        if accounts is not None:
            accounts_pb2_grpc.add_AccountsServiceServicer_to_server(AccountsServicer(accounts, audit), server)
        server.add_generic_rpc_handlers(
            (
                proxy_handler(TASKS_SERVICE, backends.tasks, audit),
                proxy_handler(SCORING_SERVICE, backends.scoring, audit),
            )
        )

    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[
            GATEWAY_SERVICE.full_name,
            TASKS_SERVICE.full_name,
            SCORING_SERVICE.full_name,
            *([ACCOUNTS_SERVICE.full_name] if accounts is not None else []),
        ],
        interceptors=[interceptor],
        max_workers=32,
    )
    return Running(server, port, health_servicer, app, registry, backends)
