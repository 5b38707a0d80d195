"""The units a department account may be bound to: the tasks service's, asked as the office that adds it."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from kaohe.tasks.v1 import tasks_pb2

from services.common.auth import Identity
from services.common.clients import Backend
from services.common.paging import every
from services.common.status import domain_error

Units = Callable[[Identity], list[tuple[str, str]]]
PAGE = 1000


def unit_lister(backend: Backend, *, timeout: float = 10.0) -> Units:
    """(code, name) of every unit the tasks service knows, all pages."""

    def units(identity: Identity) -> list[tuple[str, str]]:
        def call(request: tasks_pb2.ListUnitsRequest) -> tasks_pb2.ListUnitsResponse:
            try:
                reply: tasks_pb2.ListUnitsResponse = backend.stub.ListUnits(
                    request, metadata=backend.metadata(identity), timeout=timeout
                )
            except grpc.RpcError as exc:
                raise domain_error(exc, unavailable=backend.unavailable) from None
            return reply

        found = every(call, tasks_pb2.ListUnitsRequest(page_size=PAGE), lambda reply: reply.units)
        return [(unit.id, unit.name) for unit in found]

    return units
