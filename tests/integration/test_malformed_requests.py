"""Issue 21 item 6 (Low): a request that does not parse is INVALID_ARGUMENT, audited, never INTERNAL."""

from __future__ import annotations

import json

import grpc
import pytest

from services.common.rpc import MALFORMED
from tests.conftest import Stack


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field, written by hand: protobuf itself refuses to build these messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_struct(depth: int) -> bytes:
    """A google.protobuf.Struct nested depth times: {"a": {"a": … }}."""
    struct = b""
    for _ in range(depth):
        value = _field(5, struct)  # Value.struct_value
        struct = _field(1, _field(1, b"a") + _field(2, value))  # Struct.fields entry
    return struct


BAD = {
    "/kaohe.tasks.v1.TasksService/GetTask": _field(1, b"T\xff\xfe"),  # GetTaskRequest.id, not UTF-8
    "/kaohe.scoring.v1.ScoringService/CreateRecord": _field(2, b"error_report") + _field(3, deep_struct(200)),
    "/kaohe.gateway.v1.GatewayService/GetDashboard": _field(1, b"\xc0\xaf"),  # an overlong "/"
}


@pytest.mark.parametrize("method", sorted(BAD))
def test_a_request_that_does_not_parse_is_invalid_argument_and_audited(stack: Stack, method: str) -> None:
    call = stack.channel().unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        call(BAD[method], metadata=stack.metadata(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"request: {MALFORMED}"
    audit = [json.loads(line) for line in stack.audit_path.read_text(encoding="utf-8").splitlines()]
    assert [(e["method"], e["outcome"], e["subject"]) for e in audit] == [(method, "invalid", "office")]
