"""The tasks and scoring APIs served by the gateway: authorise, scope, forward with the caller's identity."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from services.common.auth import Identity
from services.common.clients import Backend, deadline
from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.internal import SignedStream
from services.common.rpc import current_identity
from services.common.status import relay
from services.gateway.policy import authorize, scoped_unit

log = logging.getLogger("kaohe.gateway")
Audit = Callable[..., None]


def forward_error(exc: grpc.RpcError, backend: Backend, context: grpc.ServicerContext) -> None:
    """Passes a backend's refusal on to the caller as it was, rich details included."""
    relay(exc, context, unavailable=backend.unavailable)


def proxy_handler(
    descriptor: ServiceDescriptor, backend: Backend, audit: Audit, *, wrote: Callable[[], None] = lambda: None
) -> grpc.GenericRpcHandler:
    """A generic handler serving every method of descriptor by forwarding it to backend.

    Streaming methods are served too, so that a caller gets the policy's PERMISSION_DENIED (and an audit
    line) for the internal ones rather than UNIMPLEMENTED. wrote is called after each write passed on
    (answered or not: it may have committed), so that the caller's next view is read after it.
    """
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in descriptor.methods:
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        path = f"/{descriptor.full_name}/{method.name}"
        shape = ("stream_" if method.client_streaming else "unary_") + (
            "stream" if method.server_streaming else "unary"
        )
        call = getattr(backend.channel, shape)(
            path,
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        if method.server_streaming:
            behaviour = _stream_forwarder(path, call, backend, audit)
        else:
            behaviour = _forwarder(path, call, backend, audit, wrote)
        if method.client_streaming:
            behaviour = _spooling(path, behaviour, request_class, audit)
        handlers[method.name] = getattr(grpc, f"{shape}_rpc_method_handler")(
            behaviour,
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)


# A client stream (an attachment's chunks) is kept in memory up to this size, on disk beyond it, and
# refused past the largest stream a caller may send (an attachment: 20 MB and its envelopes).
SPOOL_IN_MEMORY = 1 << 20
SPOOL_MAX = 24 << 20


def _spooling(
    path: str, behaviour: Callable[..., Any], request_class: Any, audit: Audit
) -> Callable[..., Any]:
    """behaviour given the caller's stream spooled first: the hop's credential names the stream's digest
    (a captured credential carries no other content), so the whole stream is known before it is sent —
    in a temporary file, not in memory; a caller the policy refuses is refused before anything is read."""

    def spooled(requests: Iterable[Any], context: grpc.ServicerContext) -> Any:
        _authorize(path, None, audit)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            for message in requests:
                raw = message.SerializeToString(deterministic=True)
                spool.write(len(raw).to_bytes(8, "big"))
                spool.write(raw)
                if spool.tell() > SPOOL_MAX:
                    raise InvalidArgument(
                        FieldViolation("stream", f"请求流超过 {SPOOL_MAX >> 20} MiB 的上限，未接收")
                    )
            result = behaviour(SignedStream(lambda: _replayed(spool, request_class)), context)
            # A server stream is read while the spool is still open.
            return iter(list(result)) if isinstance(result, Iterator) else result

    return spooled


def _replayed(spool: IO[bytes], request_class: Any) -> Iterator[Any]:
    spool.seek(0)
    while header := spool.read(8):
        yield request_class.FromString(spool.read(int.from_bytes(header, "big")))


def _authorize(path: str, request: Any, audit: Audit) -> Identity:
    """The caller, when the policy lets it call path; a department's request scoped to its unit."""
    identity = current_identity()
    try:
        rule = authorize(identity, path)
        if rule.scope == "unit" and hasattr(request, "unit"):
            request.unit = scoped_unit(identity, request.unit, below=rule.below)
    except PermissionDenied as exc:
        audit(identity, path, "denied", str(exc))
        raise
    return identity


def _forwarder(
    path: str, call: Any, backend: Backend, audit: Audit, wrote: Callable[[], None]
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def forward(request: Any, context: grpc.ServicerContext) -> Any:
        identity = _authorize(path, request, audit)
        mutating = not path.rsplit("/", 1)[-1].startswith(("Get", "List", "Preview", "Summarize", "Lookup"))
        try:
            response = call(request, metadata=backend.metadata(identity), timeout=deadline(context))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                audit(identity, path, "denied", exc.details())
            forward_error(exc, backend, context)
            raise
        finally:
            if mutating:
                wrote()
        if mutating:
            audit(identity, path, "changed", _subject(request))
        return response

    return forward


def _stream_forwarder(
    path: str, call: Any, backend: Backend, audit: Audit
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def forward(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        identity = _authorize(path, request, audit)
        try:
            yield from call(request, metadata=backend.metadata(identity), timeout=deadline(context))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                audit(identity, path, "denied", exc.details())
            forward_error(exc, backend, context)
            raise

    return forward


def _subject(request: Any) -> str:
    for name in ("id", "kind", "year"):
        value = getattr(request, name, None)
        if value:
            return f"{name}={value}"
    return ""
