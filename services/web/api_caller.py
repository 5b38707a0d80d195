"""The JSON API's router and who calls it, as FastAPI dependencies: a Bearer token passed on to the
gateway, or the browser's session (its form token in X-CSRF-Token on a write); the gateway's refusals as
`{"error", "code"}`.

api.py and extensions_api.py put their routes on `router`; app.py includes it (through api.router).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Protocol

import grpc
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.responses import Response

from services.common import status
from services.common.errors import DomainError
from services.web.gateway import Gateway
from services.web.refusals import HTTP_OF
from services.web.replies import Refused, as_json
from services.web.sessions import COOKIE, Session

# A write's JSON body at most: refused unread beyond (413).
MAX_BODY = 64 * 1024


class Host(Protocol):
    """What the API reads of the console at each request (a test may replace its gateway)."""

    gw: Gateway

    def session_of(self, request: Request) -> Session | None: ...


class ApiError(BaseModel):
    """A refusal: what went wrong, in Chinese, and the gateway's status code when it was the gateway's."""

    error: str = Field(description="原因（中文）")
    code: str = Field("", description="状态码，如 UNAUTHENTICATED、PERMISSION_DENIED、INVALID_ARGUMENT")


class Answer(Exception):
    """Ends an API call with this JSON and status."""

    def __init__(self, status_code: int, body: dict[str, str]) -> None:
        super().__init__(body.get("error", ""))
        self.status_code = status_code
        self.body = body


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ApiError, "description": said}
    for code, said in (
        (400, "请求有误"),
        (401, "未登录或令牌无效"),
        (403, "无权限，或须先修改一次性密码"),
        (404, "不存在"),
        (422, "参数不符合规则"),
    )
}
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="kaohe login 给出的令牌")
_cookie = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    scheme_name="session",
    description="控制台的会话（写接口另须 X-CSRF-Token）",
)


def console_of(request: Request) -> Host:
    """The console this app serves (app.state.console)."""
    found: Host = request.app.state.console
    return found


def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session_cookie: Annotated[str | None, Depends(_cookie)],
    console: Annotated[Host, Depends(console_of)],
) -> Session:
    """The caller: a Bearer token as it is (the gateway judges it), else the live session of the cookie —
    not one that must first change its one-time password."""
    if bearer is not None and bearer.credentials:
        return Session("", bearer.credentials.strip(), "", "", "", "", "", 0, 0)
    session = console.session_of(request)
    if session is None:
        raise Answer(401, {"error": "未登录：请带 Authorization: Bearer 令牌", "code": "UNAUTHENTICATED"})
    if session.must_change:
        raise Answer(403, {"error": "请先修改一次性密码", "code": "PERMISSION_DENIED"})
    return session


Caller = Annotated[Session, Depends(caller)]


def gateway(console: Annotated[Host, Depends(console_of)]) -> Gateway:
    return console.gw


Gw = Annotated[Gateway, Depends(gateway)]


async def json_body(request: Request) -> dict[str, str]:
    """A write's JSON body: an object of strings, at most MAX_BODY bytes."""
    length = request.headers.get("content-length", "0").strip() or "0"
    if not length.isdigit():
        raise Refused(400, "请求头 Content-Length 不是数字")
    if int(length) > MAX_BODY:
        raise Refused(413, f"请求体太大（至多 {MAX_BODY // 1024} KB）")
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise Refused(400, "请求体不是 JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "请求体须为 JSON 对象")
    for name, value in data.items():
        if not isinstance(value, str):
            raise Refused(400, f"{name} 须为字符串")
    return data


def csrf_checked(session: Caller, request: Request) -> Session:
    """A write's caller: a browser session's write carries its form token (X-CSRF-Token)."""
    if session.id and not session.csrf_ok(request.headers.get("x-csrf-token", "")):
        raise Refused(403, "以会话调用写接口须带 X-CSRF-Token（CSRF 校验失败）")
    return session


Writer = Annotated[Session, Depends(csrf_checked)]
Body = Annotated[dict[str, str], Depends(json_body)]


def _malformed(exc: RequestValidationError) -> Response:
    """A query parameter that is not what its type says, named in Chinese (400, as the API always did)."""
    first = exc.errors()[0] if exc.errors() else {}
    name = str(first.get("loc", ("", "参数"))[-1])
    return as_json({"error": f"{name} 须为不小于 0 的整数"}, 400)


class ApiRoute(APIRoute):
    """An /api/ route: the caller's refusals and the gateway's (gRPC status, domain error) as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Answer as exc:
                return as_json(exc.body, exc.status_code)
            except RequestValidationError as exc:
                return _malformed(exc)
            except grpc.RpcError as exc:
                code = exc.code().name
                return as_json({"error": exc.details() or code, "code": code}, HTTP_OF.get(code, 502))
            except DomainError as exc:
                code = status.code_for(exc).name
                return as_json({"error": str(exc), "code": code}, HTTP_OF.get(code, 502))

        return answer


router = APIRouter(prefix="/api", route_class=ApiRoute, responses=ERRORS)
