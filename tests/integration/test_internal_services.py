"""The gateway never serves an internal service: a `*InternalService` (methods only other services call)
has no row in the policy table, is in no set the gateway proxies, and a person's call to one through the
gateway ends UNIMPLEMENTED (or PERMISSION_DENIED) without reaching it.

Written over whatever the generated descriptors hold, so that it keeps holding as services are added.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import grpc
import kaohe
import pytest
from google.protobuf.descriptor import ServiceDescriptor

from services.gateway import __main__ as gateway_main
from services.gateway.policy import POLICY
from tests.conftest import Stack

PUBLIC = {"kaohe.gateway.v1.GatewayService", "kaohe.tasks.v1.TasksService", "kaohe.scoring.v1.ScoringService"}
# A path no service serves today and no service may ever serve through the gateway.
MADE_UP = (
    "/kaohe.tasks.v1.TasksInternalService/LookupTasks",
    "/kaohe.scoring.v1.ScoringInternalService/CommitImport",
)


def generated_services() -> list[ServiceDescriptor]:
    """Every service of every generated kaohe module."""
    found: dict[str, ServiceDescriptor] = {}
    for info in pkgutil.walk_packages(kaohe.__path__, "kaohe."):
        if not info.name.endswith("_pb2"):
            continue
        module: Any = importlib.import_module(info.name)
        found.update((s.full_name, s) for s in module.DESCRIPTOR.services_by_name.values())
    return sorted(found.values(), key=lambda s: s.full_name)


def internal_services() -> list[ServiceDescriptor]:
    return [s for s in generated_services() if s.name.endswith("InternalService")]


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> list[ServiceDescriptor]:
    """The services the gateway forwards (each one given to proxy_handler as the gateway starts): asked
    before the stack, so that its gateway registers through the recorder."""
    seen: list[ServiceDescriptor] = []
    real = gateway_main.proxy_handler

    def recording(descriptor: ServiceDescriptor, *args: Any, **kwargs: Any) -> grpc.GenericRpcHandler:
        seen.append(descriptor)
        return real(descriptor, *args, **kwargs)

    monkeypatch.setattr(gateway_main, "proxy_handler", recording)
    return seen


def test_the_policy_names_public_services_only() -> None:
    named = {path.split("/")[1] for path in POLICY}
    assert named <= PUBLIC, named - PUBLIC
    assert not any(name.endswith("InternalService") for name in named)
    assert {s.full_name for s in generated_services()} >= PUBLIC


def test_no_internal_service_has_a_policy_row() -> None:
    for service in internal_services():
        served = [m.name for m in service.methods if f"/{service.full_name}/{m.name}" in POLICY]
        assert served == [], (service.full_name, served)


@pytest.mark.parametrize("role", ["office", "department"])
def test_an_internal_method_called_through_the_gateway_is_not_served(
    proxied: list[ServiceDescriptor], stack: Stack, role: str
) -> None:
    assert {s.full_name for s in proxied} == {
        "kaohe.tasks.v1.TasksService",
        "kaohe.scoring.v1.ScoringService",
    }
    assert not any(s.name.endswith("InternalService") for s in proxied)
    paths = [f"/{s.full_name}/{m.name}" for s in internal_services() for m in s.methods]
    for path in [*paths, *MADE_UP]:
        code = _call(stack, path, role)
        assert code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED), (path, role, code)


def _call(stack: Stack, path: str, role: str) -> grpc.StatusCode:
    call = stack.channel().unary_unary(path)  # raw bytes: the empty message of any request type
    try:
        call(b"", metadata=stack.metadata(role, "fgj" if role == "department" else None), timeout=30)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK
