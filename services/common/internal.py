"""The internal hop: a credential per call, bound to its method and request, checked against the policy.

The caller (the gateway, or scoring calling tasks) names the identity it acts for with `act_as`; the
channel's interceptor replaces that with a credential signed for this method and, for a unary request,
this request's bytes. The service checks the credential, the peer's certificate and the policy table.
"""

from __future__ import annotations

import hashlib
import json
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

import grpc
from google.protobuf.message import Message

from services.common.auth import INTERNAL_METADATA, INTERNAL_ROLE, Identity
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.policy import authorize_hop
from services.common.tls import peer_service
from services.common.tokens import (
    KeyRing,
    hash_request,
    same_digest,
    sign_internal,
    stream_claim,
    verify_internal,
)

# Metadata between a caller and its own channel only: the interceptor takes it off before the call leaves.
ACT_AS = "x-kaohe-act-as"
# The web console's name when it proves itself to the gateway (Login on a browser's behalf).
CONSOLE_SUBJECT = "console"
CONSOLE = Identity(role=INTERNAL_ROLE, subject=CONSOLE_SUBJECT)


def act_as(identity: Identity) -> tuple[tuple[str, str], ...]:
    """The metadata naming who a backend call is made for; the channel turns it into a credential."""
    body = {"role": identity.role, "unit": identity.unit, "sub": identity.subject, "exp": identity.expires_at}
    return ((ACT_AS, json.dumps(body, separators=(",", ":"))),)


def console_metadata(ring: KeyRing, method: str, request: Message) -> tuple[tuple[str, str], ...]:
    """What the web console sends with a Login it makes for a browser, so that the gateway trusts the
    request's client_address (a credential of the internal ring for this method and this request)."""
    digest = hash_request(request.SerializeToString(deterministic=True))
    token = sign_internal(CONSOLE, method=method, ring=ring, request_digest=digest)
    return ((INTERNAL_METADATA, token),)


def request_bytes(request: object) -> bytes | None:
    """The bytes a credential binds a unary request to; None for a stream of requests."""
    if isinstance(request, Message):
        # Deterministic on both ends: the receiver re-serialises what it parsed, so the same message
        # hashes the same whatever order the sender wrote its map entries in.
        return request.SerializeToString(deterministic=True)
    return None


class StreamHash:
    """The digest a stream credential binds: each message's deterministic bytes, length-prefixed, in order."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, message: Message) -> bytes:
        """The message hashed; its deterministic bytes."""
        raw = message.SerializeToString(deterministic=True)
        self._hash.update(len(raw).to_bytes(8, "big"))
        self._hash.update(raw)
        return raw

    def digest(self) -> bytes:
        return self._hash.digest()


class SignedStream:
    """A stream of requests known before it is sent (made from spooled files), so that its credential can
    name its content: made once and hashed, then sent.

    With a spool, each message's bytes are kept there as it is hashed and parsed back to be sent (parsing
    costs a tenth of building a message of many lines in Python); without one, it is made again.
    """

    def __init__(self, make: Callable[[], Iterable[Message]], spool: IO[bytes] | None = None) -> None:
        self.make = make
        self._spool = spool
        self._kind: type[Message] | None = None
        hashed = StreamHash()
        for message in make():
            raw = hashed.add(message)
            if spool is not None:
                self._kind = type(message)
                spool.write(len(raw).to_bytes(8, "big"))
                spool.write(raw)
        self.digest = hashed.digest()
        self._messages: Iterator[Message] | None = None

    def __iter__(self) -> SignedStream:
        return self

    def __next__(self) -> Message:
        # An iterator itself: gRPC calls next() on what it is given.
        if self._messages is None:
            self._messages = iter(self._kept() if self._spool is not None else self.make())
        return next(self._messages)

    def _kept(self) -> Iterator[Message]:
        spool, kind = self._spool, self._kind
        assert spool is not None
        spool.flush()
        spool.seek(0)
        while header := spool.read(8):
            raw = spool.read(int.from_bytes(header, "big"))
            assert kind is not None
            yield kind.FromString(raw)


def stream_digest(messages: Iterable[Message]) -> bytes:
    """The digest of a stream of messages (for a credential made by hand: tools and tests)."""
    hashed = StreamHash()
    for message in messages:
        hashed.add(message)
    return hashed.digest()


class _CallDetails(
    namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class SigningInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Signs each outgoing call's credential for its own method (and request) with the internal ring."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def _details(self, details: Any, request: object) -> _CallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        metadata: list[tuple[str, Any]] = []
        identity: Identity | None = None
        for key, value in details.metadata or ():
            if key == ACT_AS:
                claims = json.loads(value)
                identity = Identity(
                    role=claims["role"], unit=claims["unit"], subject=claims["sub"], expires_at=claims["exp"]
                )
            else:
                metadata.append((key, value))
        if identity is not None:
            raw = request_bytes(request)
            digest = hash_request(raw) if raw is not None else None
            streamed = request.digest if isinstance(request, SignedStream) else None
            token = sign_internal(
                identity, method=method, ring=self.ring, request_digest=digest, stream_digest=streamed
            )
            metadata.append((INTERNAL_METADATA, token))
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details, request), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details, request), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details, requests), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details, requests), requests)


class InternalGuard:
    """What tasks and scoring ask of every call: a verified peer, a fresh credential for this very call,
    and an identity the policy table lets call this method."""

    def __init__(self, ring: KeyRing, *, peers: frozenset[str] | None) -> None:
        # peers None: plaintext on loopback (development), no certificate to name the caller.
        self.ring = ring
        self.peers = peers

    def identify(
        self,
        metadata: Mapping[str, str],
        method: str,
        request: object,
        context: grpc.ServicerContext,
        *,
        seen: Callable[[Identity], object] | None = None,
    ) -> Identity:
        """The identity the call carries, or Unauthenticated / PermissionDenied saying why not.

        seen is told the verified identity before the policy is asked, so that a refusal names who it was.
        """
        peer = peer_service(context) if self.peers is not None else None
        if self.peers is not None and peer not in self.peers:
            raise PermissionDenied(f"{peer or '没有服务证书的调用方'} 不能调用这里")
        token = metadata.get(INTERNAL_METADATA)
        if not token:
            raise Unauthenticated(f"{method} 是内部接口：请经网关调用")
        raw = request_bytes(request)
        identity = verify_internal(
            token,
            method=method,
            ring=self.ring,
            request_bytes=raw,
            require_request_hash=raw is not None,
            require_stream_hash=raw is None,
        )
        if seen is not None:
            seen(identity)
        authorize_hop(identity, method, peer=peer, mutual_tls=self.peers is not None)
        return identity

    def bound_stream(self, metadata: Mapping[str, str], requests: Iterable[Message]) -> Iterator[Message]:
        """The requests of a stream whose credential identify has passed, checked against the digest it
        names once the stream ends: a captured credential carries no other content (the handler's work,
        one transaction, fails with the last read and stores nothing)."""
        claim = stream_claim(metadata.get(INTERNAL_METADATA, ""))
        hashed = StreamHash()
        for message in requests:
            hashed.add(message)
            yield message
        if not same_digest(claim, hashed.digest()):
            raise Unauthenticated("凭据是为另一个数据流签发的")
