"""The internal hop proves what it carries; limits hold before authentication; plaintext stays on loopback."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import INTERNAL_METADATA, make_user_identity
from services.common.rpc import create_server
from services.common.settings import ConfigError
from services.common.tls import TlsFiles, server_credentials
from tests.conftest import KEYS, Stack, internal_metadata, secure_channel

VIEWER = make_user_identity(role="viewer", unit=None)
TASKS = "/kaohe.tasks.v1.TasksService/"
SCORING = "/kaohe.scoring.v1.ScoringService/"


class CapturingTasks(tasks_pb2_grpc.TasksServiceServicer):  # type: ignore[misc]
    """A fake tasks service with the real one's certificate: keeps the credential the gateway sends."""

    def __init__(self) -> None:
        self.captured: list[str] = []

    def ListTasks(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.captured += [v for k, v in context.invocation_metadata() if k == INTERNAL_METADATA]
        return tasks_pb2.ListTasksResponse()


def _capture(stack: Stack, tls_files: TlsFiles) -> str:
    """What a viewer's ListTasks puts on the wire to tasks, captured by a backend that is not tasks."""
    from services.gateway.__main__ import create as create_gateway

    fake = CapturingTasks()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    tasks_pb2_grpc.add_TasksServiceServicer_to_server(fake, server)
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(tls_files.config("tasks"), require_client_auth=True)
    )
    server.start()
    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=KEYS,
        tls=tls_files.config("gateway"),
        tasks_addr=f"127.0.0.1:{port}",
        scoring_addr=stack.scoring_addr,
        audit_path=None,
    )
    gateway.server.start()
    try:
        with secure_channel(tls_files, f"127.0.0.1:{gateway.port}") as channel:
            tasks_pb2_grpc.TasksServiceStub(channel).ListTasks(
                tasks_pb2.ListTasksRequest(), metadata=stack.metadata("viewer"), timeout=10
            )
    finally:
        gateway.server.stop(0).wait()
        gateway.backends.tasks.close()
        gateway.backends.scoring.close()
        server.stop(0).wait()
    assert len(fake.captured) == 1
    return fake.captured[0]


def _writes(stack: Stack) -> dict[str, Any]:
    """The writes the issue replayed, each a call on the real service taking the metadata to send."""
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr))
    lines = tasks_pb2.ImportLedgerRequest(
        lines=[tasks_pb2.LedgerLine(line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}')]
    )
    return {
        TASKS + "CreateTask": lambda md: tasks.CreateTask(
            tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj"),
            metadata=md,
            timeout=10,
        ),
        TASKS + "ImportLedger": lambda md: tasks.ImportLedger(iter([lines]), metadata=md, timeout=10),
        SCORING + "CreateRun": lambda md: scoring.CreateRun(
            scoring_pb2.CreateRunRequest(year=2025), metadata=md, timeout=10
        ),
        SCORING + "VoidRecord": lambda md: scoring.VoidRecord(
            scoring_pb2.VoidRecordRequest(id="R1", kind="error_report"), metadata=md, timeout=10
        ),
        SCORING + "PublishRun": lambda md: scoring.PublishRun(
            scoring_pb2.RunActionRequest(id="run"), metadata=md, timeout=10
        ),
    }


def _code(call: Any, metadata: Any) -> grpc.StatusCode:
    try:
        call(metadata)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_a_captured_credential_replayed_on_writes_is_refused_and_logged(
    stack: Stack, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's attack, even by a holder of the gateway's own certificate."""
    captured = _capture(stack, tls_files)
    with caplog.at_level(logging.INFO, logger="kaohe.rpc"):
        for method, call in _writes(stack).items():
            assert _code(call, ((INTERNAL_METADATA, captured),)) == grpc.StatusCode.UNAUTHENTICATED, method
    refused = [r for r in caplog.records if r.getMessage() == "refused"]
    assert {getattr(r, "method", "") for r in refused} >= set(_writes(stack))


def test_a_viewer_identity_cannot_write_whoever_relays_it(stack: Stack) -> None:
    """A credential made for the very write (as a compromised gateway could): the policy table still holds."""
    for method, call in _writes(stack).items():
        refused = _code(call, internal_metadata(VIEWER, method))
        # A unary write's credential lacks its request's hash here; a stream's is refused by the table.
        assert refused in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), method
    lines = tasks_pb2.ImportLedgerRequest(
        lines=[tasks_pb2.LedgerLine(line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}')]
    )
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    with pytest.raises(grpc.RpcError) as denied:
        tasks.ImportLedger(
            iter([lines]), metadata=internal_metadata(VIEWER, TASKS + "ImportLedger"), timeout=10
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    request = tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj")
    with pytest.raises(grpc.RpcError) as denied:
        tasks.CreateTask(
            request, metadata=internal_metadata(VIEWER, TASKS + "CreateTask", request), timeout=10
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_services_take_only_their_callers_certificates(stack: Stack) -> None:
    """tasks takes the gateway and scoring; scoring takes the gateway only; a person's client neither."""
    request = scoring_pb2.GetSchemeRequest()
    md = internal_metadata(make_user_identity(role="office", unit=None), SCORING + "GetScheme", request)
    as_tasks = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr, as_service="tasks"))
    with pytest.raises(grpc.RpcError) as refused:
        as_tasks.GetScheme(request, metadata=md, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    no_cert = secure_channel(stack.tls, stack.scoring_addr, target_name="scoring")
    stack.channels.append(no_cert)
    with pytest.raises(grpc.RpcError) as refused:
        scoring_pb2_grpc.ScoringServiceStub(no_cert).GetScheme(request, metadata=md, timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_five_mib_without_a_token_is_refused_as_too_large(stack: Stack) -> None:
    """A unary message is refused by size as it arrives; a stream is refused by its missing token first."""
    gateway = gateway_pb2_grpc.GatewayServiceStub(stack.channel())
    huge = gateway_pb2.ImportLedgerRequest(data=b"x" * (5 << 20))
    with pytest.raises(grpc.RpcError) as refused:
        gateway.ImportLedger(iter([huge]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        gateway.ImportLedger(iter([huge]), metadata=stack.metadata(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel())
    with pytest.raises(grpc.RpcError) as refused:
        tasks.CreateTask(tasks_pb2.CreateTaskRequest(title="x" * (5 << 20)), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_plaintext_listens_on_loopback_only() -> None:
    server, port, _ = create_server(
        "127.0.0.1:0", register=lambda s: None, service_names=[], tls=None, require_client_auth=False
    )
    assert port > 0
    server.stop(0)
    for address in ("0.0.0.0:0", "192.0.2.1:0", "[::]:0", "kaohe.example:0"):
        with pytest.raises(ConfigError, match="loopback"):
            create_server(address, register=lambda s: None, service_names=[], tls=None)
