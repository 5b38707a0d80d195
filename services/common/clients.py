"""Outgoing gRPC: (mutual) TLS channels with retries on UNAVAILABLE, the internal credential, deadlines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from services.common.auth import Identity
from services.common.internal import SigningInterceptor, act_as
from services.common.settings import ConfigError
from services.common.tls import TlsConfig, channel_credentials, is_loopback
from services.common.tokens import TokenKeys

DEFAULT_TIMEOUT = 30.0
# A run's result with every task explained is some 300 bytes a task row: a prefecture's year
# (1,000,000 tasks) is about 300 MB, which GetRun and the CLI must be able to carry.
MAX_MESSAGE_BYTES = 1 << 30
# A bearer JWT is under a kilobyte; anything near this is not a caller's credential.
MAX_METADATA_BYTES = 16 * 1024


def _service_config(service: str) -> str:
    # Only UNAVAILABLE is retried: every other failure is an answer, not a transport problem.
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": [{"service": service}],
                    "retryPolicy": {
                        "maxAttempts": 4,
                        "initialBackoff": "0.1s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
        }
    )


def open_channel(target: str, service: str, *, tls: TlsConfig | None, server_name: str) -> grpc.Channel:
    """A channel to target (host:port or dns:///name:port) with the service's retry policy.

    With tls, mutual TLS, the server checked under server_name (its certificate names the service,
    whatever address it is reached at); without, plaintext, which only a loopback target may use.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", _service_config(service)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ]
    if tls is None:
        if not is_loopback(target):
            raise ConfigError(f"{target} 不是本机回环地址：只有回环地址可以不加密")
        return grpc.insecure_channel(target, options=options)
    options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, channel_credentials(tls), options=options)


class Backend:
    """A typed stub plus the credential that lets an internal service accept the call."""

    def __init__(
        self,
        *,
        name: str,
        target: str,
        service: str,
        stub_class: Any,
        keys: TokenKeys,
        tls: TlsConfig | None,
        on_unavailable: Callable[[str], None] | None = None,
        internal_stub_class: Any = None,
    ) -> None:
        self.name = name
        self.on_unavailable = on_unavailable
        self.target = target
        self.raw_channel = open_channel(target, service, tls=tls, server_name=name)
        self.channel = grpc.intercept_channel(self.raw_channel, SigningInterceptor(keys.internal))
        self.stub = stub_class(self.channel)
        # The service's *InternalService (what only other services call), on the same channel.
        self.internal = internal_stub_class(self.channel) if internal_stub_class is not None else None
        self.keys = keys

    def stub_for(self, method: str) -> Any:
        """The stub that serves method: the internal service's when it has it, else the public one's."""
        if self.internal is not None and hasattr(self.internal, method):
            return self.internal
        return self.stub

    def method(self, name: str) -> Any:
        """The callable of a method by name, from the stub that serves it."""
        return getattr(self.stub_for(name), name)

    def metadata(self, identity: Identity) -> tuple[tuple[str, str], ...]:
        """Who the call is made for; the channel signs it for the call's method and request."""
        return act_as(identity)

    def unavailable(self, details: str) -> str:
        """Counts a failed call and says which service did not answer."""
        if self.on_unavailable is not None:
            self.on_unavailable(self.name)
        return f"{self.name} 服务暂不可用：{details}"

    def close(self) -> None:
        self.raw_channel.close()


# A caller who set no deadline has an infinite one, which grpc reports as ~2**63 seconds remaining; passed on
# as a timeout it overflows and the next hop fails at once (DEADLINE_EXCEEDED). Longer than this is "none".
NO_DEADLINE = 7 * 24 * 3600.0


def deadline(context: grpc.ServicerContext | None, default: float = DEFAULT_TIMEOUT) -> float:
    """The caller's remaining time when there is one (a long run's caller waits long), else the default."""
    if context is not None:
        remaining = context.time_remaining()
        if remaining is not None and remaining < NO_DEADLINE:
            return max(0.05, remaining - 0.05)
    return default
