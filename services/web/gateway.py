"""The console's one door to the gateway: a gRPC channel, stubs, the caller's token on every call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc
from kaohe.gateway.v1 import accounts_pb2_grpc, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2_grpc

from services.common.clients import MAX_MESSAGE_BYTES

TIMEOUT = 60.0


def open_channel(address: str) -> grpc.Channel:
    """The channel to the gateway (the one place where how the console dials it is decided)."""
    return grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )


class Gateway:
    """Stubs for every API the gateway serves; call() carries a person's bearer token."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = open_channel(address)
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.accounts = accounts_pb2_grpc.AccountsServiceStub(self.channel)
        self.tasks = tasks_pb2_grpc.TasksServiceStub(self.channel)
        self.scoring = scoring_pb2_grpc.ScoringServiceStub(self.channel)

    def call(
        self, method: Callable[..., Any], request: Any, token: str = "", timeout: float = TIMEOUT
    ) -> Any:
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        return method(request, metadata=metadata, timeout=timeout)

    def stream(
        self, method: Callable[..., Any], requests: Iterable[Any], token: str, timeout: float = 600.0
    ) -> Any:
        return method(iter(requests), metadata=(("authorization", f"Bearer {token}"),), timeout=timeout)

    def close(self) -> None:
        self.channel.close()
