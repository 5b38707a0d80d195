"""The ledger export: every record stored, from the tasks service and then the scoring service, as lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.auth import Identity
from services.common.clients import Backend
from services.common.status import domain_error

__all__ = ["ledger_lines"]


def _stream(backend: Backend, method: str, request: Any, identity: Identity, timeout: float) -> Iterator[Any]:
    try:
        yield from getattr(backend.stub_for(method), method)(
            request, metadata=backend.metadata(identity), timeout=timeout
        )
    except grpc.RpcError as exc:
        raise domain_error(exc, unavailable=backend.unavailable) from None


def ledger_lines(app: Any, identity: Identity, timeout: float) -> Iterator[gateway_pb2.LedgerLines]:
    """Units, persons, tasks and events (tasks), then the assessment records (scoring): an import's order."""
    for reply in _stream(
        app.backends.tasks, "ExportLedger", tasks_pb2.ExportLedgerRequest(), identity, timeout
    ):
        yield gateway_pb2.LedgerLines(lines=reply.lines)
    for reply in _stream(
        app.backends.scoring, "ExportRecords", scoring_pb2.ExportRecordsRequest(), identity, timeout
    ):
        yield gateway_pb2.LedgerLines(lines=reply.lines)
