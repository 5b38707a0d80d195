"""The console's one door to the gateway: a gRPC channel, stubs, the caller's token on every call."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
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
        self.kept = KeptAnswers()
        # Pages' content made from answers kept under a tag (no session in it), by the same key and rules.
        self.pages = KeptAnswers(size=KEPT_PAGES)

    def kept_page(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """A page's content kept under key (naming the view's tag, the caller's role and unit, the query)."""
        return self.pages.made(key, make)

    def under(self, tag: str, *, role: str, unit: str) -> Kept:
        """This gateway for a page whose other reads are kept under tag (a view's etag; "" keeps nothing)."""
        return Kept(self, tag, role=role, unit=unit)

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


# Answers kept under a view's tag (GetOverviewResponse.etag): this many at most, the least recently used going
# first; an answer larger than KEPT_LARGEST is not kept.
KEPT_ANSWERS = 512
KEPT_LARGEST = 1 << 20
KEPT_PAGES = 64


class KeptAnswers:
    """Answers of the gateway kept under the tag of the data they were read at.

    While a view's tag stays the same, so do both services' data and what the clock has changed in it
    (see GetOverviewResponse.etag); a page's other reads made under the same tag, by a caller of the same
    role and unit, answer as they did. Each is kept as its call (a page asking twice makes one call); a call
    that fails is not kept.
    """

    def __init__(self, size: int = KEPT_ANSWERS) -> None:
        self.size = size
        self._calls: OrderedDict[Hashable, Future[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, key: Hashable, call: Callable[[], Future[Any]]) -> Future[Any]:
        with self._lock:
            kept = self._calls.get(key)
            if kept is not None:
                self._calls.move_to_end(key)
                return kept
            made = self._calls[key] = call()
            while len(self._calls) > self.size:
                self._calls.popitem(last=False)
        made.add_done_callback(lambda done: self._settled(key, done))
        return made

    def made(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """What make() gives, kept under key: made here (outside the lock) by the first caller, waited for by
        those who ask meanwhile."""
        with self._lock:
            kept = self._calls.get(key)
            if kept is not None:
                self._calls.move_to_end(key)
            else:
                mine: Future[Any] = Future()
                self._calls[key] = mine
                while len(self._calls) > self.size:
                    self._calls.popitem(last=False)
        if kept is not None:
            return kept.result(TIMEOUT)
        mine.add_done_callback(lambda done: self._settled(key, done))
        try:
            mine.set_result(make())
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        return mine.result()

    def _settled(self, key: Hashable, done: Future[Any]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed or _size(done.result()) > KEPT_LARGEST:
            with self._lock:
                if self._calls.get(key) is done:
                    del self._calls[key]


def _size(kept: Any) -> int:
    """A kept answer's size in bytes (a message's, or a page's text's characters)."""
    return int(kept.ByteSize()) if hasattr(kept, "ByteSize") else len(kept)


class Kept(Gateway):
    """The gateway as one page sees it under a view's tag: calls answered from the answers kept under it
    for the caller's role and unit, else made and kept (on the same channel and stubs)."""

    def __init__(self, gw: Gateway, tag: str, *, role: str, unit: str) -> None:
        # Not Gateway.__init__: the console's channel and stubs, not new ones.
        self.gw, self.tag, self.scope = gw, tag, (role, unit)
        self.address, self.internal, self.channel, self.kept = gw.address, gw.internal, gw.channel, gw.kept
        self.pages = gw.pages
        self.gateway, self.accounts, self.tasks, self.scoring = gw.gateway, gw.accounts, gw.tasks, gw.scoring

    def start(self, method: Any, request: Any, token: str = "", timeout: float = TIMEOUT) -> Pending:
        if not self.tag:
            return self.gw.start(method, request, token, timeout)
        # A request's type names its method: each method of the APIs takes a type of its own (tested).
        asked = request.SerializeToString(deterministic=True)
        key = (self.tag, self.scope, request.DESCRIPTOR.full_name, asked)
        made = self.kept.start(key, lambda: POOL.submit(self.gw.call, method, request, token, timeout))
        return Pending(made)

    def call(self, method: Any, request: Any, token: str = "", timeout: float = TIMEOUT) -> Any:
        return self.start(method, request, token, timeout).result()

    def close(self) -> None:
        """The channel is the console's, not the page's."""
