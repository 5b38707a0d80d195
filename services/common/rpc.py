"""The gRPC edge shared by every service: the server factory, the interceptor, error mapping."""

from __future__ import annotations

import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common import errors
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.clients import MAX_MESSAGE_BYTES, MAX_METADATA_BYTES
from services.common.internal import InternalGuard
from services.common.settings import ConfigError
from services.common.status import relay, status_for
from services.common.tls import TlsConfig, is_loopback, server_credentials

log = logging.getLogger("kaohe.rpc")
_identity: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("kaohe_identity", default=None)

Authenticate = Callable[[dict[str, str], str], Identity]
# Told of every PERMISSION_DENIED and UNAUTHENTICATED: the caller if known, the method, the code, why.
OnRefused = Callable[..., None]
_REFUSALS = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A check of a parsed request before its handler (the gateway's: ids of the safe alphabet).
CheckRequest = Callable[[str, Any], None]
MALFORMED = "请求无法解析：字符串必须是合法的 UTF-8，消息（含 Struct）嵌套不能超过 100 层"


class Malformed:
    """What a request that does not parse becomes, so the handler refuses it as INVALID_ARGUMENT."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The deserializer, a parse error (invalid UTF-8, nesting past protobuf's limit) made a Malformed."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, RecursionError, UnicodeDecodeError) as exc:
            return Malformed(str(exc) or type(exc).__name__)

    return parse


def current_identity() -> Identity:
    """The caller of the RPC being served (set by the interceptor)."""
    identity = _identity.get()
    if identity is None:
        raise errors.Unauthenticated("没有调用方身份")
    return identity


def read_caller() -> tuple[str, str, str] | None:
    """Whose reads must see whose writes (services/common/read_routing.py): a person, by role, unit and
    subject; None for a service acting for nobody in particular, or no RPC at all."""
    identity = _identity.get()
    if identity is None or identity.role == INTERNAL_ROLE:
        return None
    return (identity.role, identity.unit, identity.subject)


class RpcMetrics:
    """Request counts and latencies of one service, in its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "kaohe_grpc_server_requests",
            "gRPC requests served, by final status code.",
            ["service", "method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "kaohe_grpc_server_request_duration_seconds",
            "Time to serve a gRPC request.",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class ServiceInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Authenticates, maps domain errors to status codes, counts and times every call."""

    def __init__(
        self,
        *,
        service: str,
        metrics: RpcMetrics,
        authenticate: Authenticate | None,
        guard: InternalGuard | None = None,
        on_refused: OnRefused | None = None,
        open_prefixes: tuple[str, ...] = ("/grpc.health.v1.", "/grpc.reflection."),
        check: CheckRequest | None = None,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.authenticate = authenticate
        self.guard = guard
        self.on_refused = on_refused
        self.open_prefixes = open_prefixes
        self.check = check

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        if method.startswith(self.open_prefixes):
            return handler
        short = method.rsplit("/", 1)[-1]
        wrap = self._wrapper(method, short)
        parse = _lenient(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary, False), parse, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap(handler.unary_stream, True), parse, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap(handler.stream_unary, False), parse, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap(handler.stream_stream, True), parse, handler.response_serializer
        )

    def _wrapper(self, method: str, short: str) -> Callable[[Any, bool], Any]:
        def wrap(behavior: Callable[[Any, grpc.ServicerContext], Any], streaming: bool) -> Any:
            def enter(request: Any, context: grpc.ServicerContext) -> Any:
                # The pool's threads keep their context between calls: no caller may inherit the last one.
                _identity.set(None)
                metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
                if isinstance(request, Malformed):
                    self._refuse_malformed(request, metadata, method)
                if self.guard is not None:
                    _identity.set(self.guard.identify(metadata, method, request, context, seen=_identity.set))
                elif self.authenticate is not None:
                    _identity.set(self.authenticate(metadata, method))
                if not isinstance(request, Message):
                    # A stream of requests: each is looked at as the handler reads it.
                    requests = self._checked_stream(request, metadata, method)
                    return self.guard.bound_stream(metadata, requests) if self.guard else requests
                if self.check is not None:
                    self.check(method, request)
                return request

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    return behavior(enter(request, context), context)
                except errors.DomainError as exc:
                    code = self._abort(exc, context, method)
                except Exception as exc:
                    code = self._unexpected(exc, context, method)
                finally:
                    self._observe(short, code, context, start)

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    yield from behavior(enter(request, context), context)
                except errors.DomainError as exc:
                    code = self._abort(exc, context, method)
                except Exception as exc:
                    code = self._unexpected(exc, context, method)
                finally:
                    self._observe(short, code, context, start)

            return stream if streaming else unary

        return wrap

    def _refuse_malformed(self, request: Malformed, metadata: dict[str, str], method: str) -> None:
        """INVALID_ARGUMENT for a request that does not parse, audited naming the caller when known."""
        actor = _identity.get()
        if actor is None and self.guard is None and self.authenticate is not None:
            try:
                actor = self.authenticate(metadata, method)
            except errors.DomainError:
                actor = None
        log.info("malformed request", extra={"method": method, "reason": request.reason})
        if self.on_refused is not None:
            self.on_refused(actor=actor, method=method, code="INVALID_ARGUMENT", reason=MALFORMED)
        raise errors.InvalidArgument("request", MALFORMED)

    def _checked_stream(
        self, requests: Iterator[Any], metadata: dict[str, str], method: str
    ) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, Malformed):
                self._refuse_malformed(request, metadata, method)
            yield request

    def _abort(self, exc: errors.DomainError, context: grpc.ServicerContext, method: str) -> grpc.StatusCode:
        code, status = status_for(exc)
        if code != grpc.StatusCode.INVALID_ARGUMENT:
            log.info("refused", extra={"method": method, "code": code.name, "reason": str(exc)})
        if code in _REFUSALS and self.on_refused is not None:
            self.on_refused(actor=_identity.get(), method=method, code=code.name, reason=str(exc))
        context.abort_with_status(rpc_status.to_status(status))
        return code  # pragma: no cover - abort raises

    def _unexpected(self, exc: Exception, context: grpc.ServicerContext, method: str) -> grpc.StatusCode:
        # context.abort raises a plain Exception after setting the code: that is not a crash.
        set_code = _context_code(context)
        if set_code is not None and set_code != grpc.StatusCode.OK:
            raise exc
        if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
            # A backend's answer to a call made on the caller's behalf: relayed as it came,
            # field violations included, so the caller learns the line and the rule.
            upstream = exc.code()
            if upstream != grpc.StatusCode.INTERNAL:
                relay(exc, context, unavailable=lambda details: f"后端服务暂不可用：{details}")
        if _database_unreachable(exc):
            # The database went away (restart, failover, network): nothing was committed, a retry is safe.
            log.warning("database unavailable", extra={"method": method, "reason": str(exc).splitlines()[0]})
            context.abort(grpc.StatusCode.UNAVAILABLE, "数据库暂时不可用，请稍后再试")
        log.exception("unexpected error", extra={"method": method})
        context.abort(grpc.StatusCode.INTERNAL, "服务内部错误，详情已记入服务日志")
        return grpc.StatusCode.INTERNAL  # pragma: no cover - abort raises

    def _observe(
        self, short: str, code: grpc.StatusCode, context: grpc.ServicerContext, start: float
    ) -> None:
        final = _context_code(context) or code
        self.metrics.requests.labels(self.service, short, final.name).inc()
        self.metrics.latency.labels(self.service, short).observe(time.perf_counter() - start)


def _database_unreachable(exc: Exception) -> bool:
    """Whether exc is the database being out of reach (not a bug): a lost or refused connection."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    # psycopg's OperationalError: the server refused, closed or is shutting down the connection. SQLite's
    # OperationalError (a missing table, a locked file) stays a bug worth its traceback.
    return isinstance(exc, OperationalError) and type(exc.orig).__module__.startswith("psycopg")


def _context_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    try:
        code = context.code()  # type: ignore[attr-defined]
    except (AttributeError, NotImplementedError):
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), None)
    return None


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(names: list[str], server: grpc.Server) -> None:
    """Server reflection as grpc.reflection.v1 and, for older tools, v1alpha.

    grpcio-reflection ships only v1alpha; v1's messages are the same on the wire, so one servicer
    answers under both names.
    """
    servicer = reflection.ReflectionServicer([*names, reflection.SERVICE_NAME, REFLECTION_V1])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(
        REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))


def create_server(
    address: str,
    *,
    register: Callable[[grpc.Server], None],
    service_names: Iterable[str],
    interceptors: Iterable[grpc.ServerInterceptor] = (),
    max_workers: int = 16,
    tls: TlsConfig | None,
    require_client_auth: bool = False,
    max_receive_bytes: int = MAX_MESSAGE_BYTES,
    health_servicer: health.HealthServicer | None = None,
    reuse_port: bool = False,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started-ready server bound to address (":0" picks a port): servicers, health, reflection.

    With tls None it listens in plaintext, which only a loopback address may do. reuse_port lets the
    workers of one service share its port (services/common/workers.py); off, a taken port is an error
    even when the other listener allows sharing.
    """
    if tls is None and not is_loopback(address):
        raise ConfigError(f"{address} 不是本机回环地址：只有回环地址可以不加密，请配置 TLS 证书")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=list(interceptors),
        options=[
            # A message larger than this is refused as it arrives, before anything is buffered whole.
            ("grpc.max_receive_message_length", max_receive_bytes),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
    )
    register(server)
    health_servicer = health_servicer or health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    _enable_reflection([*names, health.SERVICE_NAME], server)
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(
                address, server_credentials(tls, require_client_auth=require_client_auth)
            )
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"无法在 {address} 上监听：端口已被占用，或该地址不是本机的地址")
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def serve_until_signalled(
    server: grpc.Server,
    health_servicer: health.HealthServicer,
    *,
    grace: float = 5.0,
    on_stop: Callable[[], None] | None = None,
    on_drain: Callable[[], None] | None = None,
) -> None:
    """Starts the server and blocks; SIGTERM/SIGINT → NOT_SERVING, on_drain, then stop with grace."""
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    server.start()
    stop.wait()
    health_servicer.enter_graceful_shutdown()
    if on_drain is not None:
        on_drain()
    server.stop(grace).wait()
    if on_stop is not None:
        on_stop()
