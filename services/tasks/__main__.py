"""Composition root of the tasks service: database, scheme, servicer, server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from prometheus_client import CollectorRegistry

from services.common.attachments import AttachmentStore
from services.common.db import Database, migrate
from services.common.internal import InternalGuard
from services.common.rpc import RpcMetrics, ServiceInterceptor, create_server
from services.common.scheme import Scheme
from services.common.tls import TlsConfig
from services.common.tokens import TokenKeys
from services.notify.config import NotifyConfig
from services.tasks.internal_rpc import TasksInternalServicer
from services.tasks.metrics import CalendarCollector, LedgerCollector
from services.tasks.reminders import ReminderLoop, file_clock
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
    reminders: ReminderLoop | None = None


def create(
    *,
    address: str,
    db_url: str,
    scheme: Scheme,
    keys: TokenKeys,
    tls: TlsConfig | None,
    notify: NotifyConfig | None = None,
    notify_clock: str = "",
    attachments: AttachmentStore | None = None,
) -> Running:
    """A tasks server bound to address, its schema migrated; not yet started (nor its reminders loop).

    Over mutual TLS it accepts the gateway (for people) and scoring (for itself), nobody else.
    """
    db = Database(db_url, sequence="tasks_change_sequence")
    db.check()
    migrate(db, MIGRATIONS, service="tasks")
    app = TasksApp(db, scheme)
    app.audit.probe()
    app.holidays.start()
    registry = CollectorRegistry()
    registry.register(LedgerCollector(app))
    registry.register(CalendarCollector(app))
    clock = file_clock(Path(notify_clock)) if notify_clock else None
    reminders = ReminderLoop(app, notify, registry=registry, clock=clock) if notify is not None else None
    if reminders is not None:
        reminders.check_units()
    interceptor = ServiceInterceptor(
        service="tasks",
        metrics=RpcMetrics(registry),
        authenticate=None,
        guard=InternalGuard(keys.internal, peers=PEERS if tls is not None else None),
        on_refused=app.audit.refused,
    )

    def register(server: grpc.Server) -> None:
        tasks_pb2_grpc.add_TasksServiceServicer_to_server(TasksServicer(app, attachments), server)
        tasks_pb2_grpc.add_TasksInternalServiceServicer_to_server(TasksInternalServicer(app), server)

    server, port, health_servicer = create_server(
        address,
        register=register,
        service_names=[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        interceptors=[interceptor],
        tls=tls,
        require_client_auth=True,
    )
    return Running(server, port, health_servicer, app, db, registry, reminders)
