"""延期申请 in the JSON API: list, file, decide — the gateway authorises each call as it does the CLI's."""

from __future__ import annotations

import secrets
from typing import Any

from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.paging import every
from services.common.wire_text import text_data
from services.web.edge import typed_code
from services.web.gateway import Gateway
from services.web.layout import LOCAL
from services.web.replies import Refused, as_json, body_json
from services.web.sessions import Session


def _body(session: Session, request: Request) -> dict[str, Any]:
    """The JSON body of a write; a browser session's write carries its form token (X-CSRF-Token)."""
    if session.id and not session.csrf_ok(request.headers.get("x-csrf-token", "")):
        raise Refused(403, "以会话调用写接口须带 X-CSRF-Token（CSRF 校验失败）")
    data = body_json(request)
    if not isinstance(data, dict):
        raise Refused(400, "请求体须为 JSON 对象")
    for name, value in data.items():
        if not isinstance(value, str):
            raise Refused(400, f"{name} 须为字符串")
    return data


def _extension(message: tasks_pb2.Extension) -> dict[str, Any]:
    return text_data(message, LOCAL)


def list_extensions(gw: Gateway, session: Session, request: Request) -> Response:
    year = request.query_params.get("year", "")
    if year and not year.isdigit():
        raise Refused(400, "year must be a whole number")
    request_ = tasks_pb2.ListExtensionsRequest(
        unit=request.query_params.get("unit", ""),
        state=typed_code(tasks_pb2.ExtensionState.DESCRIPTOR, request.query_params.get("state", ""), "state"),
        task_id=request.query_params.get("task_id", ""),
        year=int(year or 0),
        page_size=1000,
    )
    found = every(
        lambda r: gw.call(gw.tasks.ListExtensions, r, session.token), request_, lambda r: r.extensions
    )
    return as_json({"extensions": [_extension(e) for e in found]})


def file_extension(gw: Gateway, session: Session, request: Request) -> Response:
    data = _body(session, request)
    made = gw.call(
        gw.tasks.FileExtension,
        tasks_pb2.FileExtensionRequest(
            request_id=data.get("request_id", "") or secrets.token_hex(16),
            task_id=data.get("task_id", ""),
            due_at=data.get("due_at", ""),
            reason=data.get("reason", ""),
            id=data.get("id", ""),
        ),
        session.token,
    ).extension
    return as_json(_extension(made), 201)


def decide_extension(gw: Gateway, session: Session, request: Request) -> Response:
    data = _body(session, request)
    made = gw.call(
        gw.tasks.DecideExtension,
        tasks_pb2.DecideExtensionRequest(
            request_id=data.get("request_id", "") or secrets.token_hex(16),
            id=request.path_params["extension"],
            decision=data.get("decision", ""),
            due_at=data.get("due_at", ""),
            reason=data.get("reason", ""),
        ),
        session.token,
    ).extension
    return as_json(_extension(made))


ROUTES = [
    ("GET", "/api/extensions", list_extensions),
    ("POST", "/api/extensions", file_extension),
    ("POST", "/api/extensions/{extension}/decide", decide_extension),
]
EXTENSION = {"type": "object", "additionalProperties": True}
_ERRORS = {code: {"$ref": "#/components/responses/Error"} for code in ("400", "401", "403", "404", "409")}
_WRITE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
    },
}
# The OpenAPI description of the routes above, merged into the console's document.
PATHS: dict[str, Any] = {
    "/api/extensions": {
        "get": {
            "summary": "延期申请列表（单位只见本单位的），每项带经过",
            "parameters": [
                {"name": n, "in": "query", "required": False, "schema": {"type": t}}
                for n, t in (
                    ("unit", "string"),
                    ("state", "string"),
                    ("task_id", "string"),
                    ("year", "integer"),
                )
            ],
            "responses": {"200": {"description": "OK"}, **_ERRORS},
        },
        "post": {
            "summary": (
                "牵头单位申请延期：task_id、due_at（如 2026-12-20 18:00）、reason；会话调用须带 X-CSRF-Token"
            ),
            "requestBody": _WRITE_BODY,
            "responses": {"201": {"description": "Created"}, **_ERRORS},
        },
    },
    "/api/extensions/{extension}/decide": {
        "post": {
            "summary": (
                "考核办审批：decision（approved｜refused）、due_at（批准延至，默认按申请）、"
                "reason（不予批准必填）"
            ),
            "parameters": [
                {"name": "extension", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": _WRITE_BODY,
            "responses": {"200": {"description": "OK"}, **_ERRORS},
        }
    },
}
