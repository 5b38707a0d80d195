"""Authentication at every door: the gateway wants a person's token, the services the internal credential."""

from __future__ import annotations

import time
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import INTERNAL_METADATA, SYSTEM, Identity, make_user_identity
from services.common.tokens import TokenKeys, issue_user_token, sign_internal
from services.common.wiretime import instant
from tests.conftest import KEYS, Stack, internal_metadata

OFFICE = make_user_identity(role="office", unit=None)
TASKS_SERVICE = "kaohe.tasks.v1.TasksService"
SCORING_SERVICE = "kaohe.scoring.v1.ScoringService"
GATEWAY_SERVICE = "kaohe.gateway.v1.GatewayService"


OTHER = TokenKeys.from_secrets(b"another-secret-9876543210")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def signed(identity: Identity) -> str:
    """A JWT of our issuer and key carrying whatever identity, as only the secret's holder could sign."""
    now = int(time.time())
    claims = {
        "iss": "kaohe",
        "aud": "kaohe-gateway",
        "sub": identity.subject,
        "role": identity.role,
        "unit": identity.unit,
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    return jwt.encode(
        claims, KEYS.user.keys[KEYS.user.current], algorithm="HS256", headers={"kid": KEYS.user.current}
    )


def gateway_calls(stack: Stack) -> dict[str, Any]:
    """One call per API the gateway serves, each taking the metadata to send."""
    gateway, tasks, scoring = stack.stubs()
    return {
        "gateway.WhoAmI": lambda md: gateway.WhoAmI(gateway_pb2.WhoAmIRequest(), metadata=md, timeout=10),
        "tasks.ListTasks": lambda md: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=md, timeout=10),
        "tasks.CreateTask": lambda md: (
            tasks.CreateTask(
                tasks_pb2.CreateTaskRequest(
                    title="x", task_type="leader_directive", lead_unit="fgj", assign_now=True
                ),
                metadata=md,
                timeout=10,
            ).task
        ),
        "scoring.GetScheme": lambda md: (
            scoring.GetScheme(scoring_pb2.GetSchemeRequest(), metadata=md, timeout=10).scheme
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
    whoami = "/kaohe.gateway.v1.GatewayService/WhoAmI"
    return {
        "none": (),
        "empty_bearer": (("authorization", "Bearer "),),
        "not_bearer": (("authorization", f"Basic {stack.token()}"),),
        "garbage": bearer("kh1.garbage.garbage"),
        "forged": bearer(issue_user_token(OFFICE, ring=OTHER.user)),
        "expired": bearer(issue_user_token(OFFICE, ring=stack.keys.user, ttl_seconds=-120)),
        "internal_credential_as_bearer": bearer(
            sign_internal(OFFICE, method=whoami, ring=stack.keys.internal)
        ),
        "tampered": bearer(
            _tampered(
                issue_user_token(make_user_identity(role="viewer", unit=None), ring=stack.keys.user),
                issue_user_token(OFFICE, ring=stack.keys.user),
            )
        ),
        "unknown_role": bearer(signed(Identity(role="root", subject="root"))),
        "internal_role": bearer(signed(Identity(role="internal", subject="system"))),
        "internal_header_only": internal_metadata(OFFICE, whoami),
    }


def _tampered(viewer: str, office: str) -> str:
    """The office's claims under the viewer's signature."""
    header, _, mac = viewer.split(".")
    return f"{header}.{office.split('.')[1]}.{mac}"


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
def test_gateway_refuses_without_a_valid_token(module_stack: Stack, credential: str) -> None:
    metadata = credentials(module_stack)[credential]
    for name, call in gateway_calls(module_stack).items():
        assert code_of(call, metadata) == grpc.StatusCode.UNAUTHENTICATED, name


def test_gateway_answers_a_valid_token(stack: Stack) -> None:
    calls = gateway_calls(stack)
    assert code_of(calls["gateway.WhoAmI"], stack.metadata()) == grpc.StatusCode.OK
    assert code_of(calls["tasks.ListTasks"], stack.metadata()) == grpc.StatusCode.OK
    assert code_of(calls["scoring.GetScheme"], stack.metadata()) == grpc.StatusCode.OK
    gateway, _, _ = stack.stubs()
    me = gateway.WhoAmI(gateway_pb2.WhoAmIRequest(), metadata=stack.metadata("department", "fgj"), timeout=10)
    assert (me.role, me.unit, me.subject) == (accounts_pb2.ROLE_DEPARTMENT, "fgj", "department:fgj")


def test_a_department_token_without_a_unit_reaches_no_unit_data(stack: Stack) -> None:
    """Only the secret's holder can sign one, but the door holds even then: no unit is not every unit."""
    stack.import_ledger(
        b'{"type":"unit","id":"fgj","name":"x","category":"department"}\n'
        b'{"type":"task","id":"T1","title":"x","task_type":"leader_directive","lead_unit":"fgj",'
        b'"assigned_at":"2025-04-28T10:00:00+08:00"}\n'
    )
    token = signed(Identity(role="department", subject="department:"))
    _, tasks, _ = stack.stubs()
    for call in (
        lambda: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=bearer(token), timeout=10),
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id="T1"), metadata=bearer(token), timeout=10).task,
    ):
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


TASKS = "/kaohe.tasks.v1.TasksService/"
TASKS_INTERNAL = "/kaohe.tasks.v1.TasksInternalService/"
# An instant far in the future, past every due instant of the tests.
FAR = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant a Timestamp carries
SCORING = "/kaohe.scoring.v1.ScoringService/"


def internal_calls(stack: Stack, *, as_service: str = "gateway") -> dict[str, tuple[str, Any, Any]]:
    """name → (full method, request, call taking the metadata), over a service's certificate."""
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr, as_service=as_service))
    internal = tasks_pb2_grpc.TasksInternalServiceStub(stack.channel(stack.tasks_addr, as_service=as_service))
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr, as_service=as_service))
    facts = tasks_pb2.GetTimelinessFactsRequest(
        due_from=instant(0), due_before=instant(FAR), as_of=instant(FAR)
    )
    lines = tasks_pb2.ImportLedgerRequest(
        lines=[common_pb2.LedgerLine(line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}')]
    )
    return {
        "tasks.ListTasks": (
            TASKS + "ListTasks",
            tasks_pb2.ListTasksRequest(),
            lambda md: tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=md, timeout=10),
        ),
        "tasks.ListUnits": (
            TASKS + "ListUnits",
            tasks_pb2.ListUnitsRequest(),
            lambda md: tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=md, timeout=10),
        ),
        "tasks.GetTimelinessFacts": (
            TASKS_INTERNAL + "GetTimelinessFacts",
            facts,
            lambda md: list(internal.GetTimelinessFacts(facts, metadata=md, timeout=10)),
        ),
        "tasks.ImportLedger": (
            TASKS_INTERNAL + "ImportLedger",
            None,
            lambda md: internal.ImportLedger(iter([lines]), metadata=md, timeout=10),
        ),
        "scoring.GetScheme": (
            SCORING + "GetScheme",
            scoring_pb2.GetSchemeRequest(),
            lambda md: scoring.GetScheme(scoring_pb2.GetSchemeRequest(), metadata=md, timeout=10).scheme,
        ),
        "scoring.ListRecords": (
            SCORING + "ListRecords",
            scoring_pb2.ListRecordsRequest(),
            lambda md: scoring.ListRecords(scoring_pb2.ListRecordsRequest(), metadata=md, timeout=10),
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
def test_services_refuse_calls_that_skip_the_gateway(module_stack: Stack, credential: str) -> None:
    for name, (method, request, call) in internal_calls(module_stack).items():
        metadata = {
            "none": (),
            "user_bearer": module_stack.metadata(),
            "user_token_as_internal": ((INTERNAL_METADATA, module_stack.token()),),
            "forged_internal": internal_metadata(OFFICE, method, request, keys=OTHER),
            "expired_internal": internal_metadata(OFFICE, method, request, ttl_seconds=-60),
            "garbage_internal": ((INTERNAL_METADATA, "kh1.x.y"),),
        }[credential]
        assert code_of(call, metadata) == grpc.StatusCode.UNAUTHENTICATED, name
    _, tasks, _ = module_stack.stubs()
    units = tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=module_stack.metadata(), timeout=10).units
    assert list(units) == [], "a refused import stored something"


def test_services_answer_the_internal_credential(stack: Stack) -> None:
    calls = internal_calls(stack)
    for name in ("tasks.ListTasks", "tasks.ListUnits", "scoring.GetScheme"):
        method, request, call = calls[name]
        assert code_of(call, internal_metadata(OFFICE, method, request)) == grpc.StatusCode.OK, name
    # Timeliness facts are scoring's to ask for, as itself.
    method, request, call = internal_calls(stack, as_service="scoring")["tasks.GetTimelinessFacts"]
    assert code_of(call, internal_metadata(SYSTEM, method, request)) == grpc.StatusCode.OK


@pytest.mark.parametrize("door", ["gateway", "tasks", "scoring"])
def test_health_and_reflection_need_no_credential(module_stack: Stack, door: str) -> None:
    address = {
        "gateway": module_stack.gateway_addr,
        "tasks": module_stack.tasks_addr,
        "scoring": module_stack.scoring_addr,
    }[door]
    served = {
        "gateway": {GATEWAY_SERVICE, TASKS_SERVICE, SCORING_SERVICE},
        "tasks": {TASKS_SERVICE},
        "scoring": {SCORING_SERVICE},
    }[door]
    channel = module_stack.channel(address)
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


@pytest.mark.parametrize("door", ["gateway", "tasks", "scoring"])
def test_reflection_answers_as_v1_too(module_stack: Stack, door: str) -> None:
    """grpcurl and current tools ask grpc.reflection.v1; older ones v1alpha: both answer."""
    address = {
        "gateway": module_stack.gateway_addr,
        "tasks": module_stack.tasks_addr,
        "scoring": module_stack.scoring_addr,
    }[door]
    info = module_stack.channel(address).stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    replies = list(info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    listed = {s.name for s in replies[0].list_services_response.service}
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= listed
