"""Composition root of the scoring service (database, scheme, tasks client, servicer, server), and its
`python -m services.scoring`: the service run with its background loop (import recovery), /metrics, health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from prometheus_client import CollectorRegistry

from services.common.attachments import AttachmentStore, store_from_env
from services.common.change_watch import ChangeWatch
from services.common.db import Database, migrate
from services.common.internal import InternalGuard
from services.common.process import (
    Background,
    Context,
    ServiceOptions,
    Serving,
    parse_options,
    run_service,
)
from services.common.read_routing import ReadLimits
from services.common.rpc import RpcMetrics, ServiceInterceptor, create_server, read_caller
from services.common.runtime import load_scheme_or_fail
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
    # Started by main (a background loop): settles imports a crash left staged.
    recovery: ImportRecovery
    # The change sequence as any process commits it, pushed to the gateway (WatchVersion).
    watch: ChangeWatch


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
    read_db_url: str = "",
    read_limits: ReadLimits | None = None,
) -> Running:
    """A scoring server bound to address, its schema migrated; not yet started (only the gateway calls it)."""
    db = Database(
        db_url,
        sequence="scoring_change_sequence",
        read_url=read_db_url,
        limits=read_limits,
        caller=read_caller,
    )
    db.check()
    migrate(db, MIGRATIONS, service="scoring")
    registry = CollectorRegistry()
    registry.register(db.read_metrics("scoring"))
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

    watch = ChangeWatch(db)

    def register(server: grpc.Server) -> None:
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server(ScoringServicer(app, attachments), server)
        scoring_pb2_grpc.add_ScoringInternalServiceServicer_to_server(
            ScoringInternalServicer(app, watch), server
        )

    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        interceptors=[interceptor],
        tls=tls,
        require_client_auth=True,
    )
    recovery = ImportRecovery(db, tasks.resolve_import, after=recovery_after, peek=tasks.peek_import)
    return Running(server, port, health_servicer, app, db, registry, tasks, recovery, watch)


def build(context: Context) -> Serving:
    """The scoring service of context, with its loop: the recovery of imports a crash left staged."""
    settings = context.settings
    scoring = create(
        address=context.address,
        db_url=settings.scoring_db_url,
        scheme=load_scheme_or_fail(settings.scheme_path),
        keys=context.keys,
        tls=context.tls,
        tasks_addr=settings.tasks_addr,
        recovery_after=settings.import_recovery_after,
        attachments=store_from_env(settings.data_dir),
        read_db_url=settings.scoring_db_read_url,
        read_limits=ReadLimits(settings.db_read_max_lag, settings.db_read_wait),
    )

    def recover() -> None:
        # Before the server starts: an import the tasks service already decided is settled now, so no read
        # ever sees one half of it (only undecided ones wait for their gateway).
        scoring.recovery.settle_decided()
        scoring.recovery.start()

    return Serving(
        scoring.server,
        scoring.health,
        scoring.registry,
        database=scoring.db,
        health_names=["", SERVICE_NAME],
        background=[Background("import recovery", recover, scoring.recovery.stop)],
        draining=[scoring.watch.close],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m services.scoring --port P --metrics-port M …` (or `kaohe serve-one scoring`)."""
    return run(parse_options("scoring", argv))


def run(options: ServiceOptions) -> int:
    """The scoring service of options, with its loops, /metrics and health, until a signal."""
    return run_service(options, build)


if __name__ == "__main__":
    raise SystemExit(main())
