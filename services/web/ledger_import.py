"""The office's ledger import: the upload form, its progress (static/import.js), the result with lines/s.

Without JavaScript the form posts and the page comes back with the result; with it, the file goes up by
XHR (a progress bar for the bytes sent, then "正在导入"), and the same result or refusal is put in place.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from kaohe.gateway.v1 import gateway_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import LEDGER_LINE_TYPES, label_of
from services.web.gateway import Gateway
from services.web.refusals import HTTP_OF, import_refusal
from services.web.replies import as_json, files_of, form_of, pieces_of
from services.web.templating import fragment, render

CHUNK = 1 << 20
# The header static/import.js sends: the answer is then JSON carrying the same HTML the page would show.
XHR_HEADER = "x-kaohe-upload"


def form(gw: Gateway, session: Any, request: Request, result: Markup | str = "") -> Response:
    """The upload form; result: the last upload's outcome or refusal (a notice), shown under it."""
    return render(request, "office/import.html", title="台账导入", result=result)


def notice(message: str, *, error: bool = False) -> Markup:
    return fragment("office/notice.html", message=message, error=error)


def outcome(reply: Any, *, validate: bool, seconds: float) -> tuple[str, dict[str, Any]]:
    """The result line for people, and the same in figures."""
    created = "，".join(f"{label_of(LEDGER_LINE_TYPES, k)} {v}" for k, v in sorted(reply.created.items()))
    rate = reply.lines / seconds if seconds > 0 else 0.0
    verb = "检查通过（未导入）" if validate else "已导入"
    message = (
        f"{verb}：共 {reply.lines} 行；新增 {created or '无'}；用时 {seconds:.2f} 秒（每秒 {rate:,.0f} 行）"
    )
    figures = {
        "lines": int(reply.lines),
        "seconds": round(seconds, 3),
        "lines_per_second": round(rate, 1),
        "created": {k: int(v) for k, v in reply.created.items()},
        "unchanged": {k: int(v) for k, v in reply.unchanged.items()},
        "validate_only": validate,
    }
    return message, figures


def upload(gw: Gateway, session: Any, request: Request) -> Response:
    """Streams the file to the gateway in 1 MiB pieces; the ledger is imported all or nothing."""
    by_script = request.headers.get(XHR_HEADER) == "1"
    upload_ = files_of(request).get("ledger")
    if upload_ is None or not upload_.size:
        missing = notice("请选择一个台账文件", error=True)
        if by_script:
            return as_json({"ok": False, "html": missing}, 422)
        return form(gw, session, request, missing)
    validate = form_of(request).get("validate_only") == "1"
    started = time.perf_counter()
    try:
        reply = gw.stream(
            gw.gateway.ImportLedger,
            (
                gateway_pb2.ImportLedgerRequest(validate_only=validate and i == 0, data=p)
                for i, p in enumerate(pieces_of(upload_, CHUNK))
            ),
            session.token,
        )
    except grpc.RpcError as exc:
        if not by_script or exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise  # the page's own handling: the form again with every bad line, or the login page
        return as_json({"ok": False, "html": import_refusal(exc)}, HTTP_OF.get(exc.code().name, 502))
    message, figures = outcome(reply, validate=validate, seconds=time.perf_counter() - started)
    if by_script:
        return as_json({"ok": True, "html": notice(message), **figures})
    return form(gw, session, request, notice(message))
