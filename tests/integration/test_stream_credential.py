"""Issue 21 item 6 (Medium): a captured ImportLedger stream credential is bound to the stream's content."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import INTERNAL_METADATA
from services.common.tls import server_credentials
from tests.conftest import KEYS, Stack, TlsFiles, secure_channel

UNIT = '{"type":"unit","id":"fgj","name":"发改局","category":"department"}'
EVIL = '{"type":"unit","id":"evil","name":"冒名单位","category":"department"}'


class CapturingTasks(tasks_pb2_grpc.TasksInternalServiceServicer):  # type: ignore[misc]
    """Stands where tasks should be: keeps what the gateway sends with an import's tasks half."""

    def __init__(self) -> None:
        self.credential = ""
        self.messages: list[Any] = []

    def ImportLedger(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        self.credential = dict(context.invocation_metadata())[INTERNAL_METADATA]
        self.messages = list(request_iterator)
        return tasks_pb2.ImportLedgerResponse(created={"unit": 1})


def _capture(stack: Stack, tls_files: TlsFiles) -> CapturingTasks:
    """A real gateway's validate-only import of one unit, its tasks half caught on the wire."""
    from services.gateway.__main__ import create as create_gateway

    fake = CapturingTasks()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    tasks_pb2_grpc.add_TasksInternalServiceServicer_to_server(fake, server)
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
            gateway_pb2_grpc.GatewayServiceStub(channel).ImportLedger(
                iter([gateway_pb2.ImportLedgerRequest(data=UNIT.encode(), validate_only=True)]),
                metadata=stack.metadata("office"),
                timeout=30,
            )
    finally:
        gateway.server.stop(0).wait()
        gateway.backends.tasks.close()
        gateway.backends.scoring.close()
        server.stop(0).wait()
    assert fake.credential and fake.messages
    return fake


def test_a_captured_stream_credential_carries_no_other_content(stack: Stack, tls_files: TlsFiles) -> None:
    captured = _capture(stack, tls_files)
    tasks = tasks_pb2_grpc.TasksInternalServiceStub(stack.channel(stack.tasks_addr))
    metadata = ((INTERNAL_METADATA, captured.credential),)
    # Replayed, within its 30 s, on a stream of the attacker's: a write, not a validation, of another unit.
    forged = [
        tasks_pb2.ImportLedgerRequest(validate_only=False),
        tasks_pb2.ImportLedgerRequest(lines=[common_pb2.LedgerLine(line=1, json=EVIL)]),
    ]
    try:
        tasks.ImportLedger(iter(forged), metadata=metadata, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
        assert "另一个数据流" in (exc.details() or "")
    else:
        raise AssertionError("a forged stream was taken on a captured credential")
    _, through_gateway, _ = stack.stubs()
    units = through_gateway.ListUnits(
        tasks_pb2.ListUnitsRequest(), metadata=stack.metadata(), timeout=10
    ).units
    assert list(units) == []
    # The very stream it was made for is taken (validated only, as the gateway asked).
    reply = tasks.ImportLedger(iter(captured.messages), metadata=metadata, timeout=30)
    assert dict(reply.created) == {"unit": 1}
