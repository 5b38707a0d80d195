"""The console's one door to the gateway: a gRPC channel, stubs, the caller's token on every call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2_grpc

from services.common import tls
from services.common.clients import MAX_MESSAGE_BYTES
from services.common.internal import console_metadata
from services.common.settings import ConfigError
from services.common.tokens import KeyRing

TIMEOUT = 60.0
LOGIN = "/kaohe.gateway.v1.AccountsService/Login"
# The threads that carry the pages' concurrent calls: the console serves a page per thread and a page has a
# handful of independent calls, so a few dozen cover 8 users at once with room to spare.
POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="kaohe-web-call")


def open_channel(address: str, ca: Path | None = None) -> grpc.Channel:
    """The channel to the gateway (the one place where how the console dials it is decided).

    TLS, trusting ca (else KAOHE_TLS_CA); plaintext only to a gateway on this machine's loopback.
    """
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    ca = ca or (Path(os.environ[tls.ENV_CA]) if os.environ.get(tls.ENV_CA) else None)
    if ca is None:
        if not tls.is_loopback(address):
            raise ConfigError(f"网关 {address} 不在本机回环地址上：请设置 {tls.ENV_CA} 以信任它的 CA")
        return grpc.insecure_channel(address, options=options)
    credentials = tls.channel_credentials(tls.load_tls_config(ca=ca))
    return grpc.secure_channel(address, credentials, options=options)


class Pending:
    """A call on its way; result() is the answer, or raises the call's grpc.RpcError as call() would."""

    def __init__(self, future: Future[Any]) -> None:
        self.future = future

    def result(self) -> Any:
        return self.future.result()

    def cancel(self) -> None:
        self.future.cancel()


class Gateway:
    """Stubs for every API the gateway serves; call() carries a person's bearer token."""

    def __init__(self, address: str, ca: Path | None = None, *, internal: KeyRing | None = None) -> None:
        self.address = address
        # The deployment's internal ring: a Login the console makes proves the browser's address with it.
        self.internal = internal
        self.channel = open_channel(address, ca)
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.accounts = accounts_pb2_grpc.AccountsServiceStub(self.channel)
        self.tasks = tasks_pb2_grpc.TasksServiceStub(self.channel)
        self.scoring = scoring_pb2_grpc.ScoringServiceStub(self.channel)

    def call(
        self, method: Callable[..., Any], request: Any, token: str = "", timeout: float = TIMEOUT
    ) -> Any:
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        return method(request, metadata=metadata, timeout=timeout)

    def login(self, request: accounts_pb2.LoginRequest, timeout: float = TIMEOUT) -> Any:
        """A browser's Login, signed as the console's when the ring is known, so that the gateway's
        throttle keys on the browser's address rather than on the console's one."""
        metadata = console_metadata(self.internal, LOGIN, request) if self.internal is not None else ()
        return self.accounts.Login(request, metadata=metadata, timeout=timeout)

    def start(self, method: Any, request: Any, token: str = "", timeout: float = TIMEOUT) -> Pending:
        """A unary call started now, its answer taken later: a page's independent calls go out at once.

        On the console's shared pool of threads (grpc's own `.future()` starts a thread per call when none
        is polling the channel: about 2 ms a page here, more than handing the call to a waiting thread).
        """
        return Pending(POOL.submit(self.call, method, request, token, timeout))

    def stream(
        self, method: Callable[..., Any], requests: Iterable[Any], token: str, timeout: float = 600.0
    ) -> Any:
        return method(iter(requests), metadata=(("authorization", f"Bearer {token}"),), timeout=timeout)

    def close(self) -> None:
        self.channel.close()
