"""Authentication at every door: the gateway wants a person's token, the services the internal credential."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import INTERNAL_METADATA, Identity, Keys, make_user_identity, sign
from tests.conftest import Stack

OFFICE = make_user_identity(role="office", unit=None)
TASKS_SERVICE = "kaohe.tasks.v1.TasksService"
SCORING_SERVICE = "kaohe.scoring.v1.ScoringService"
GATEWAY_SERVICE = "kaohe.gateway.v1.GatewayService"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def gateway_calls(stack: Stack) -> dict[str, Any]:
    """One call per API the gateway serves, each taking the metadata to send."""
    gateway, tasks, scoring = stack.stubs()
    return {
        "gateway.WhoAmI": lambda md: gateway.WhoAmI(gateway_pb2.WhoAmIRequest(), metadata=md, timeout=10),
        "tasks.ListTasks": lambda md: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=md, timeout=10),
        "tasks.CreateTask": lambda md: tasks.CreateTask(
            tasks_pb2.CreateTaskRequest(
                title="x", task_type="leader_directive", lead_unit="fgj", assign_now=True
            ),
            metadata=md,
            timeout=10,
        ),
        "scoring.GetScheme": lambda md: scoring.GetScheme(
            scoring_pb2.GetSchemeRequest(), metadata=md, timeout=10
        ),
        "gateway.ImportLedger": lambda md: gateway.ImportLedger(
            iter(
                [
                    gateway_pb2.ImportLedgerRequest(
                        data=b'{"type":"unit","id":"x","name":"x","category":"d"}\n'
                    )
                ]
            ),
            metadata=md,
            timeout=10,
        ),
    }


def code_of(call: Any, metadata: Any) -> grpc.StatusCode:
    try:
        call(metadata)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def credentials(stack: Stack) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every way of not holding a valid person's token."""
    other = Keys(b"another-secret-9876543210")
    return {
        "none": (),
        "empty_bearer": (("authorization", "Bearer "),),
        "not_bearer": (("authorization", f"Basic {stack.token()}"),),
        "garbage": bearer("kh1.garbage.garbage"),
        "forged": bearer(other.user_token(OFFICE)),
        "expired": bearer(stack.keys.user_token(OFFICE, ttl_seconds=-10)),
        "internal_credential_as_bearer": bearer(stack.keys.internal_token(OFFICE)),
        "tampered": bearer(
            _tampered(
                stack.keys.user_token(make_user_identity(role="viewer", unit=None)),
                stack.keys.user_token(OFFICE),
            )
        ),
        "unknown_role": bearer(
            sign(Identity(role="root", subject="root"), key=stack.keys.user, ttl_seconds=600)
        ),
        "internal_role": bearer(
            sign(Identity(role="internal", subject="system"), key=stack.keys.user, ttl_seconds=600)
        ),
        "internal_header_only": ((INTERNAL_METADATA, stack.keys.internal_token(OFFICE)),),
    }


def _tampered(viewer: str, office: str) -> str:
    """The office's claims under the viewer's signature."""
    prefix, _, mac = viewer.split(".")
    return f"{prefix}.{office.split('.')[1]}.{mac}"


@pytest.mark.parametrize(
    "credential",
    [
        "none",
        "empty_bearer",
        "not_bearer",
        "garbage",
        "forged",
        "expired",
        "internal_credential_as_bearer",
        "tampered",
        "unknown_role",
        "internal_role",
        "internal_header_only",
    ],
)
def test_gateway_refuses_without_a_valid_token(stack: Stack, credential: str) -> None:
    metadata = credentials(stack)[credential]
    for name, call in gateway_calls(stack).items():
        assert code_of(call, metadata) == grpc.StatusCode.UNAUTHENTICATED, name


def test_gateway_answers_a_valid_token(stack: Stack) -> None:
    calls = gateway_calls(stack)
    assert code_of(calls["gateway.WhoAmI"], stack.metadata()) == grpc.StatusCode.OK
    assert code_of(calls["tasks.ListTasks"], stack.metadata()) == grpc.StatusCode.OK
    assert code_of(calls["scoring.GetScheme"], stack.metadata()) == grpc.StatusCode.OK
    gateway, _, _ = stack.stubs()
    me = gateway.WhoAmI(gateway_pb2.WhoAmIRequest(), metadata=stack.metadata("department", "fgj"), timeout=10)
    assert (me.role, me.unit, me.subject) == ("department", "fgj", "department:fgj")


def test_a_department_token_without_a_unit_reaches_no_unit_data(stack: Stack) -> None:
    """Only the secret's holder can sign one, but the door holds even then: no unit is not every unit."""
    stack.import_ledger(
        b'{"type":"unit","id":"fgj","name":"x","category":"department"}\n'
        b'{"type":"task","id":"T1","title":"x","task_type":"leader_directive","lead_unit":"fgj",'
        b'"assigned_at":"2025-04-28T10:00:00+08:00"}\n'
    )
    token = sign(Identity(role="department", subject="department:"), key=stack.keys.user, ttl_seconds=600)
    _, tasks, _ = stack.stubs()
    for call in (
        lambda: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=bearer(token), timeout=10),
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id="T1"), metadata=bearer(token), timeout=10),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def internal_calls(stack: Stack) -> dict[str, Any]:
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr))
    return {
        "tasks.ListTasks": lambda md: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=md, timeout=10),
        "tasks.ListUnits": lambda md: tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=md, timeout=10),
        "tasks.GetTimelinessFacts": lambda md: list(
            tasks.GetTimelinessFacts(
                tasks_pb2.GetTimelinessFactsRequest(due_from=0, due_before=2**40, as_of=2**40),
                metadata=md,
                timeout=10,
            )
        ),
        "tasks.ImportLedger": lambda md: tasks.ImportLedger(
            iter(
                [
                    tasks_pb2.ImportLedgerRequest(
                        lines=[
                            tasks_pb2.LedgerLine(
                                line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}'
                            )
                        ]
                    )
                ]
            ),
            metadata=md,
            timeout=10,
        ),
        "scoring.GetScheme": lambda md: scoring.GetScheme(
            scoring_pb2.GetSchemeRequest(), metadata=md, timeout=10
        ),
        "scoring.ListRecords": lambda md: scoring.ListRecords(
            scoring_pb2.ListRecordsRequest(), metadata=md, timeout=10
        ),
    }


@pytest.mark.parametrize(
    "credential",
    [
        "none",
        "user_bearer",
        "user_token_as_internal",
        "forged_internal",
        "expired_internal",
        "garbage_internal",
    ],
)
def test_services_refuse_calls_that_skip_the_gateway(stack: Stack, credential: str) -> None:
    other = Keys(b"another-secret-9876543210")
    metadata = {
        "none": (),
        "user_bearer": stack.metadata(),
        "user_token_as_internal": ((INTERNAL_METADATA, stack.token()),),
        "forged_internal": ((INTERNAL_METADATA, other.internal_token(OFFICE)),),
        "expired_internal": ((INTERNAL_METADATA, stack.keys.internal_token(OFFICE, ttl_seconds=-10)),),
        "garbage_internal": ((INTERNAL_METADATA, "kh1.x.y"),),
    }[credential]
    for name, call in internal_calls(stack).items():
        assert code_of(call, metadata) == grpc.StatusCode.UNAUTHENTICATED, name
    _, tasks, _ = stack.stubs()
    units = tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=stack.metadata(), timeout=10).units
    assert list(units) == [], "a refused import stored something"


def test_services_answer_the_internal_credential(stack: Stack) -> None:
    metadata = ((INTERNAL_METADATA, stack.keys.internal_token(OFFICE)),)
    calls = internal_calls(stack)
    for name in ("tasks.ListTasks", "tasks.ListUnits", "tasks.GetTimelinessFacts", "scoring.GetScheme"):
        assert code_of(calls[name], metadata) == grpc.StatusCode.OK, name


@pytest.mark.parametrize("door", ["gateway", "tasks", "scoring"])
def test_health_and_reflection_need_no_credential(stack: Stack, door: str) -> None:
    address = {"gateway": stack.gateway_addr, "tasks": stack.tasks_addr, "scoring": stack.scoring_addr}[door]
    served = {
        "gateway": {GATEWAY_SERVICE, TASKS_SERVICE, SCORING_SERVICE},
        "tasks": {TASKS_SERVICE},
        "scoring": {SCORING_SERVICE},
    }[door]
    channel = stack.channel(address)
    health = health_pb2_grpc.HealthStub(channel)
    for name in ["", *served]:
        reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="kaohe.nothing.v1.Nothing"), timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(
        reflection.ServerReflectionInfo(
            iter(
                [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol=sorted(served)[0]),
                ]
            ),
            timeout=10,
        )
    )
    listed = {s.name for s in replies[0].list_services_response.service}
    assert served | {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= listed
    assert replies[1].file_descriptor_response.file_descriptor_proto, "reflection serves the descriptors"
