"""Composition root of the tasks service: database, scheme, servicer, server — and `python -m services.tasks`,
which runs it with its background loops (import decisions, reminders), /metrics and health."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
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
from services.common.settings import ConfigError
from services.common.tls import TlsConfig
from services.common.tokens import TokenKeys
from services.notify.config import NotifyConfig, NotifyConfigInvalid, notify_config_from
from services.tasks.internal_rpc import TasksInternalServicer
from services.tasks.metrics import CalendarCollector, LedgerCollector
from services.tasks.reminders import ReminderLoop
from services.tasks.rpc import TasksServicer
from services.tasks.use_cases import TasksApp

SERVICE_NAME = tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name
INTERNAL_SERVICE_NAME = tasks_pb2.DESCRIPTOR.services_by_name["TasksInternalService"].full_name
PEERS = frozenset({"gateway", "scoring"})
MIGRATIONS = Path(__file__).resolve().parent / "storage" / "migrations"
log = logging.getLogger("kaohe.tasks")


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: TasksApp
    db: Database
    registry: CollectorRegistry
    # The change sequence as any process commits it, pushed to the gateway (WatchVersion).
    watch: ChangeWatch
    reminders: ReminderLoop | None = None


def create(
    *,
    address: str,
    db_url: str,
    scheme: Scheme,
    keys: TokenKeys,
    tls: TlsConfig | None,
    notify: NotifyConfig | None = None,
    attachments: AttachmentStore | None = None,
    read_db_url: str = "",
    read_limits: ReadLimits | None = None,
) -> Running:
    """A tasks server bound to address, its schema migrated; not yet started (nor its reminders loop).

    Over mutual TLS it accepts the gateway (for people) and scoring (for itself), nobody else.
    """
    db = Database(
        db_url, sequence="tasks_change_sequence", read_url=read_db_url, limits=read_limits, caller=read_caller
    )
    db.check()
    migrate(db, MIGRATIONS, service="tasks")
    app = TasksApp(db, scheme)
    app.audit.probe()
    app.holidays.start()
    registry = CollectorRegistry()
    registry.register(db.read_metrics("tasks"))
    registry.register(LedgerCollector(app))
    registry.register(CalendarCollector(app))
    reminders = ReminderLoop(app, notify, registry=registry) if notify is not None else None
    if reminders is not None:
        reminders.check_units()
    interceptor = ServiceInterceptor(
        service="tasks",
        metrics=RpcMetrics(registry),
        authenticate=None,
        guard=InternalGuard(keys.internal, peers=PEERS if tls is not None else None),
        on_refused=app.audit.refused,
    )

    watch = ChangeWatch(db)

    def register(server: grpc.Server) -> None:
        tasks_pb2_grpc.add_TasksServiceServicer_to_server(TasksServicer(app, attachments), server)
        tasks_pb2_grpc.add_TasksInternalServiceServicer_to_server(TasksInternalServicer(app, watch), server)

    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        interceptors=[interceptor],
        tls=tls,
        require_client_auth=True,
    )
    return Running(server, port, health_servicer, app, db, registry, watch, reminders)


def build(context: Context) -> Serving:
    """The tasks service of context, with its loops: import decisions, and reminders when configured."""
    settings = context.settings
    try:
        tasks = create(
            address=context.address,
            db_url=settings.tasks_db_url,
            scheme=load_scheme_or_fail(settings.scheme_path),
            keys=context.keys,
            tls=context.tls,
            notify=notify_config_from(context.options.notify),
            attachments=store_from_env(settings.data_dir),
            read_db_url=settings.tasks_db_read_url,
            read_limits=ReadLimits(settings.db_read_max_lag, settings.db_read_wait),
        )
    except NotifyConfigInvalid as exc:
        raise ConfigError(f"提醒配置文件：{exc.key}：{exc.rule}") from None
    decisions = tasks.app.importer.decisions
    background = [Background("import decisions", decisions.start, decisions.stop)]
    if tasks.reminders is not None:
        background.append(Background("reminders", tasks.reminders.start, tasks.reminders.stop))
    return Serving(
        tasks.server,
        tasks.health,
        tasks.registry,
        database=tasks.db,
        health_names=["", SERVICE_NAME],
        background=background,
        draining=[tasks.watch.close],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m services.tasks --port P --metrics-port M …` (or `kaohe serve-one tasks`), until a signal."""
    return run(parse_options("tasks", argv))


def run(options: ServiceOptions) -> int:
    """The tasks service of options, with its loops, /metrics and health, until a signal."""
    return run_service(options, build)


if __name__ == "__main__":
    raise SystemExit(main())
