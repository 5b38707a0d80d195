"""Domain errors and gRPC status codes, one table read both ways: at a server's edge and at a caller's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import errors

__all__ = [
    "CODES",
    "LABELS",
    "UNREACHABLE",
    "code_for",
    "domain_error",
    "error_for",
    "field_violations",
    "relay",
    "status_for",
]

CODES: tuple[tuple[type[errors.DomainError], grpc.StatusCode], ...] = (
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.StaleEtag, grpc.StatusCode.ABORTED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)
_BY_CODE: dict[grpc.StatusCode, type[errors.DomainError]] = {code: kind for kind, code in CODES}

# A caller that gets one of these did not reach the service (or not in time): nothing was refused.
UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

# What a refusal means, for people reading the command line's messages.
LABELS: dict[str, str] = {
    "INVALID_ARGUMENT": "输入有误",
    "PERMISSION_DENIED": "无权操作",
    "UNAUTHENTICATED": "身份验证失败",
    "NOT_FOUND": "不存在",
    "FAILED_PRECONDITION": "状态不允许",
    "ABORTED": "已被他人修改，请刷新后重试",
    "ALREADY_EXISTS": "已存在",
    "INTERNAL": "服务内部错误",
    "UNIMPLEMENTED": "不支持的操作",
}


def code_for(exc: errors.DomainError) -> grpc.StatusCode:
    """The status code of a domain error (INTERNAL for one the table does not name)."""
    return next((code for kind, code in CODES if isinstance(exc, kind)), grpc.StatusCode.INTERNAL)


def status_for(exc: errors.DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """The status code and the rich status (with BadRequest field violations) of a domain error."""
    code = code_for(exc)
    status = status_pb2.Status(code=code.value[0], message=str(exc))
    if isinstance(exc, errors.InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in exc.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return code, status


def error_for(
    code: grpc.StatusCode, details: str, violations: list[errors.FieldViolation] | None = None
) -> errors.DomainError | None:
    """The domain error a status code stands for (None for one the table does not name)."""
    kind = _BY_CODE.get(code)
    if kind is None:
        return None
    if issubclass(kind, errors.InvalidArgument):
        return kind(violations or [errors.FieldViolation("request", details)])
    return kind(details)


def field_violations(exc: grpc.RpcError) -> list[errors.FieldViolation]:
    """The BadRequest field violations a refusal carries in its rich status."""
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        return []
    found: list[errors.FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [errors.FieldViolation(v.field, v.description) for v in bad.field_violations]
    return found


def domain_error(exc: grpc.RpcError, *, unavailable: Callable[[str], str]) -> Exception:
    """A backend's refusal as the domain error it was, its field violations kept whole.

    A backend that did not answer becomes Unavailable with the message unavailable(details) gives;
    a code the table does not name (INTERNAL, UNIMPLEMENTED) stays the RpcError it was.
    """
    code = exc.code()  # type: ignore[attr-defined]
    details = exc.details() or ""  # type: ignore[attr-defined]
    if code in UNREACHABLE:
        return errors.Unavailable(unavailable(details))
    violations = field_violations(exc) if code == grpc.StatusCode.INVALID_ARGUMENT else None
    error = error_for(code, details, violations)
    return error if error is not None else exc


def relay(exc: grpc.RpcError, context: grpc.ServicerContext, *, unavailable: Callable[[str], str]) -> None:
    """Aborts the call being served with a backend's refusal as it came, rich details included.

    A backend that did not answer makes the call UNAVAILABLE, with the message unavailable(details) gives.
    """
    code = exc.code()  # type: ignore[attr-defined]
    if code in UNREACHABLE:
        context.abort(grpc.StatusCode.UNAVAILABLE, unavailable(exc.details() or code.name))
    trailing: Any = exc.trailing_metadata() or ()  # type: ignore[attr-defined]
    context.set_trailing_metadata(tuple((k, v) for k, v in trailing if k == "grpc-status-details-bin"))
    context.abort(code, exc.details() or code.name)
