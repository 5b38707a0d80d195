"""The console as an ASGI application (FastAPI on Starlette): sessions, CSRF and refusals around the routes of
both desks and the API.

The route table is in routes.py, the sign-in pages in signin.py, the static files in assets.py; the gateway's
refusals are worded in refusals.py. A view is synchronous (it waits on the gateway over gRPC): the app reads
the request's form first, in the event loop, then runs the view in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import grpc
from fastapi import FastAPI
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from services.common.errors import DomainError
from services.web import api, assets, attachments, ledger_import, password
from services.web.gateway import Gateway
from services.web.oidc import CALLBACK, OidcLogin, oidc_login_from_env
from services.web.refusals import HTTP_OF, edge_refusal, import_refusal, refusal
from services.web.replies import Refused, as_json, part, redirect
from services.web.routes import View, desk_routes
from services.web.sessions import COOKIE, Session, Sessions
from services.web.signin import SignIn, landing
from services.web.templating import render

log = logging.getLogger("kaohe.web")

# A signed-in request's body (a ledger upload) at most; before sign-in (a login form) far less, refused
# unread beyond (413): nobody unknown makes the console hold megabytes.
MAX_BODY = 32 * 1024 * 1024
ANONYMOUS_BODY = 64 * 1024
# Threads that run pages (each may wait on the gateway); more requests wait for one, in the event loop.
PAGE_THREADS = 16
PLAIN = Callable[[Request], Response]


class Console:
    """Routes each request to its desk, keeping the person's gateway token in a server-side session."""

    def __init__(
        self, gateway: Gateway, *, sessions: Sessions | None = None, oidc: OidcLogin | None = None
    ) -> None:
        self.gw = gateway
        self.sessions = sessions or Sessions()
        # Where browsers reach the console (KAOHE_WEB_PUBLIC_URL, else its listening address): the OIDC
        # callback's default, never taken from a request's Host header.
        self.public_url = ""
        # 统一身份认证登录 when the county's provider is configured (KAOHE_OIDC_ISSUER, KAOHE_OIDC_CLIENT_ID).
        self.oidc = oidc if oidc is not None else oidc_login_from_env()
        if self.oidc is not None:
            # The provider's redirect back may reach another console process than the one that sent it.
            self.oidc.store = self.sessions
        self.signin = SignIn(self)
        self._threads: anyio.CapacityLimiter | None = None
        self.app = self._app()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and scope["path"].startswith("/api/"):
            # FastAPI's routes answer GET only; HEAD is the same answer without its body (RFC 9110 §9.3.2),
            # as Starlette's own routes (the pages) give it.
            await self.app({**scope, "method": "GET"}, receive, _headers_only(send))
            return
        await self.app(scope, receive, send)

    def _app(self) -> FastAPI:
        """Sign-in and static files first, then every desk page behind page(), then the API's router."""
        app = FastAPI(
            title="考核 Kaohe API",
            version="1",
            description="The gateway's views and 延期申请, authorised as the gateway authorises the same "
            "calls: a Bearer token, or the console's session (X-CSRF-Token on a write).",
            openapi_url="/api/openapi.json",
            docs_url=None,
            redoc_url=None,
        )
        signin = self.signin
        app.add_route("/", self.plain(self.home), ["GET"])
        app.add_route("/healthz", lambda request: PlainTextResponse("ok"), ["GET"])
        app.add_route("/login", self.plain(signin.login_form), ["GET"])
        app.add_route("/login", self.plain(signin.login), ["POST"])
        app.add_route("/logout", self.plain(signin.logout), ["POST"])
        app.add_route("/login/oidc", self.plain(signin.oidc_start), ["GET"])
        app.add_route(CALLBACK, self.plain(signin.oidc_callback), ["GET"])
        app.add_route("/favicon.ico", assets.favicon, ["GET"])
        app.mount("/static", assets.Static(), name="static")
        desk = desk_routes(change_password=signin.change_password, disable_account=signin.disable_account)
        for method, path, view, roles, back in desk:
            app.add_route(path, self.page(view, roles, back), [method])
        app.state.console = self  # the API's caller and gateway (api_caller.console_of)
        app.include_router(api.router)
        app.add_exception_handler(Refused, self._refused)  # type: ignore[arg-type]
        app.add_exception_handler(HTTPException, self._not_routed)  # type: ignore[arg-type]
        return app

    # Reading a request before its view -------------------------------------------------------------------

    async def _run(self, fn: Callable[..., Response], *args: Any) -> Response:
        """fn in one of PAGE_THREADS worker threads."""
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(PAGE_THREADS)
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self._threads)

    async def _read_form(self, request: Request, limit: int) -> None:
        """The form (urlencoded or multipart, files spooled to disk) into request.state; larger than limit:
        refused unread (413)."""
        length = request.headers.get("content-length", "0").strip() or "0"
        if not length.isdigit():
            raise Refused(400, "请求头 Content-Length 不是数字")
        if int(length) > limit:
            raise Refused(413, "上传的内容太大" if limit >= attachments.MAX_FORM else "请求体太大，请先登录")
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            request.state.body = await request.body()
            return
        try:
            request.state.form = await request.form(
                max_files=8, max_fields=2000, max_part_size=4 * 1024 * 1024
            )
        except MultiPartException as exc:
            raise Refused(400, f"表单无法读取：{exc.message}") from None
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "表单无法读取：不是 UTF-8 文本") from None

    def session_of(self, request: Request) -> Session | None:
        """The caller's live session, from its cookie."""
        found = getattr(request.state, "session", None)
        if isinstance(found, Session):
            return found
        session_id = request.cookies.get(COOKIE, "")
        session = self.sessions.get(session_id) if session_id else None
        request.state.session = session
        return session

    def plain(self, fn: PLAIN) -> Callable[[Request], Any]:
        """A sign-in page: its form read (before sign-in at most ANONYMOUS_BODY), then fn."""

        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                signed_in = await self._run_session(request) is not None
                await self._read_form(request, MAX_BODY if signed_in else ANONYMOUS_BODY)
            return await self._run(fn, request)

        return endpoint

    # Desk pages ------------------------------------------------------------------------------------------

    def page(self, view: View, roles: frozenset[str], back: str) -> Callable[[Request], Any]:
        """A desk page: a live session of the right role, CSRF checked on every POST, refusals shown."""

        async def endpoint(request: Request) -> Response:
            session = await self._run_session(request)
            if session is None:
                return redirect("/login", expired="1")
            if request.method == "POST":
                limit = MAX_BODY
                if attachments.is_upload(request.url.path):
                    limit = attachments.MAX_FORM  # one file of at most 20 MB: refused unread beyond
                await self._read_form(request, limit)
            return await self._run(self._desk, view, roles, back, session, request)

        return endpoint

    async def _run_session(self, request: Request) -> Session | None:
        return await anyio.to_thread.run_sync(self.session_of, request)

    def _desk(
        self, view: View, roles: frozenset[str], back: str, session: Session, request: Request
    ) -> Response:
        if session.must_change and request.url.path != password.PATH:
            return redirect(password.PATH)
        if session.role not in roles:
            raise Refused(403, "您的角色不能打开这个页面")
        if request.method == "POST":
            form = getattr(request.state, "form", None)
            presented = form.get("csrf") if isinstance(form, FormData) else None
            if not session.csrf_ok(presented if isinstance(presented, str) else ""):
                log.warning("csrf refused", extra={"path": request.url.path, "user": session.username})
                raise Refused(403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试")
        try:
            return view(self.gw, session, request)
        except Refused:
            raise
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.sessions.end(session.id)
                return redirect("/login", expired="1")
            if back:
                # A back page may name the path's own parts: /tasks/{task} after a refused step.
                return redirect(self._back(back, request), error=refusal(exc))
            if request.url.path == "/office/import":
                return ledger_import.form(self.gw, session, request, import_refusal(exc))
            raise Refused(HTTP_OF.get(exc.code().name, 502), refusal(exc)) from None
        except DomainError as exc:
            code, said = edge_refusal(exc)
            if back:
                return redirect(self._back(back, request), error=said)
            raise Refused(HTTP_OF.get(code, 502), said) from None
        except Exception:
            log.exception("web request failed")
            raise Refused(500, "服务内部错误，请稍后再试") from None

    @staticmethod
    def _back(back: str, request: Request) -> str:
        return back.format(**{k: part(v) for k, v in request.path_params.items()})

    # Refusals --------------------------------------------------------------------------------------------

    def _refused(self, request: Request, exc: Refused) -> Response:
        if request.url.path.startswith("/api/"):
            return as_json({"error": exc.message}, exc.status)
        return render(request, "error.html", exc.status, title="出错了", message=exc.message)

    def _not_routed(self, request: Request, exc: HTTPException) -> Response:
        said = {404: "没有这个页面", 405: "不允许的请求方法"}.get(exc.status_code, str(exc.detail))
        return self._refused(request, Refused(exc.status_code, said))

    def home(self, request: Request) -> Response:
        """To the login form, or to the desk of the signed-in person's role."""
        session = self.session_of(request)
        if session is None:
            return redirect("/login")
        return redirect(landing(session))


def _headers_only(send: Any) -> Any:
    """send, the body's bytes left out (the headers, Content-Length included, as for GET)."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sending
