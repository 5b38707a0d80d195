"""The gateway's refusals as people and HTTP read them: a line in Chinese, a status, an import's bad lines."""

from __future__ import annotations

import grpc
from markupsafe import Markup

from services.common import status
from services.common.errors import DomainError
from services.web.templating import fragment

# The HTTP status of a refused page or API call, by the gateway's gRPC status (else 502).
HTTP_OF = {
    "INVALID_ARGUMENT": 422,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 503,
}


def refusal(exc: grpc.RpcError) -> str:
    """The gateway's refusal in a line for people: the Chinese label, then the gateway's words."""
    code = exc.code().name
    label = status.LABELS.get(code, "服务不可达" if exc.code() in status.UNREACHABLE else code)
    details = exc.details() or ""
    violations = status.field_violations(exc)
    if len(violations) > 1:
        details = "；".join(f"{v.field}: {v.description}" for v in violations)
    return f"{label}：{details}" if details else label


def edge_refusal(exc: DomainError) -> tuple[str, str]:
    """What the console refused itself (a time or a choice it parses for a request), as the gateway words a
    refusal: its status code's name and the line for people."""
    code = status.code_for(exc).name
    return code, f"{status.LABELS.get(code, code)}：{exc}"


def import_refusal(exc: grpc.RpcError) -> Markup:
    """A refused import: every bad line with its reason (the ledger is all or nothing)."""
    return fragment(
        "office/import_refusal.html",
        violations=status.field_violations(exc),
        line=refusal(exc),
        label=status.LABELS.get(exc.code().name, exc.code().name),
    )
