"""Composition root of the scoring service: database, scheme, tasks client, servicer, server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from prometheus_client import CollectorRegistry

from services.common.attachments import AttachmentStore
from services.common.db import Database, migrate
from services.common.internal import InternalGuard
from services.common.rpc import RpcMetrics, ServiceInterceptor, create_server
from services.common.scheme import Scheme
from services.common.tls import TlsConfig
from services.common.tokens import TokenKeys
from services.scoring.clients import GrpcTasks
from services.scoring.metrics import IndicatorCollector, RunMetrics
from services.scoring.rpc import ScoringInternalServicer, ScoringServicer
from services.scoring.staging import ImportRecovery
from services.scoring.use_cases import ScoringApp

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
INTERNAL_SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringInternalService"].full_name
PEERS = frozenset({"gateway"})
MIGRATIONS = Path(__file__).resolve().parent / "storage" / "migrations"


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: ScoringApp
    db: Database
    registry: CollectorRegistry
    tasks: GrpcTasks
    # Started by whoever serves (serve-one): settles imports a crash left staged.
    recovery: ImportRecovery


def create(
    *,
    address: str,
    db_url: str,
    scheme: Scheme,
    keys: TokenKeys,
    tls: TlsConfig | None,
    tasks_addr: str,
    recovery_after: float = 30.0,
    attachments: AttachmentStore | None = None,
) -> Running:
    """A scoring server bound to address, its schema migrated; not yet started (only the gateway calls it)."""
    db = Database(db_url, sequence="scoring_change_sequence")
    db.check()
    migrate(db, MIGRATIONS, service="scoring")
    registry = CollectorRegistry()
    run_metrics = RunMetrics(registry)
    tasks = GrpcTasks(tasks_addr, keys, tls=tls)
    app = ScoringApp(db, scheme, tasks, on_run=run_metrics.observe)
    app.audit.probe()
    registry.register(IndicatorCollector(app))
    interceptor = ServiceInterceptor(
        service="scoring",
        metrics=RpcMetrics(registry),
        authenticate=None,
        guard=InternalGuard(keys.internal, peers=PEERS if tls is not None else None),
        on_refused=app.audit.refused,
    )

    def register(server: grpc.Server) -> None:
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server(ScoringServicer(app, attachments), server)
        scoring_pb2_grpc.add_ScoringInternalServiceServicer_to_server(ScoringInternalServicer(app), server)

    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        interceptors=[interceptor],
        tls=tls,
        require_client_auth=True,
    )
    recovery = ImportRecovery(db, tasks.resolve_import, after=recovery_after, peek=tasks.peek_import)
    return Running(server, port, health_servicer, app, db, registry, tasks, recovery)
