"""The console as a WSGI application: sessions, CSRF and refusals around the routes of both desks and the API.

The route table is in routes.py, the sign-in pages in signin.py, the static files in assets.py; the gateway's
refusals are worded in refusals.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any

import grpc

from services.common import status
from services.common.errors import DomainError
from services.web import api, assets, attachments, ledger_import, password
from services.web.gateway import Gateway
from services.web.http import (
    ANONYMOUS_BODY,
    MAX_BODY,
    HttpError,
    Request,
    Response,
    Router,
    as_json,
    page,
    part,
    redirect,
    respond,
)
from services.web.layout import frame, notice
from services.web.oidc import CALLBACK, OidcLogin, oidc_login_from_env
from services.web.refusals import HTTP_OF, edge_refusal, import_refusal, refusal
from services.web.routes import View, api_routes, desk_routes
from services.web.sessions import COOKIE, Session, Sessions
from services.web.signin import SignIn, landing

log = logging.getLogger("kaohe.web")


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
        self.signin = SignIn(self)
        self.router = self._router()

    def _router(self) -> Router:
        """Sign-in and static files first, then every desk page behind page(), every API call behind api()."""
        r, signin = Router(), self.signin
        r.add("GET", "/", self.home)
        r.add("GET", "/healthz", lambda request: Response(b"ok", content_type="text/plain"))
        r.add("GET", "/login", signin.login_form)
        r.add("POST", "/login", signin.login)
        r.add("POST", "/logout", signin.logout)
        r.add("GET", "/login/oidc", signin.oidc_start)
        r.add("GET", CALLBACK, signin.oidc_callback)
        r.add("GET", "/static/{a}", assets.static)
        r.add("GET", "/favicon.ico", assets.favicon)
        r.add("GET", "/static/vendor/{a}/{b}", assets.static)
        desk = desk_routes(change_password=signin.change_password, disable_account=signin.disable_account)
        for method, path, view, roles, back in desk:
            r.add(method, path, self.page(view, roles, back))
        for method, path, api_view in api_routes():
            r.add(method, path, self.api(api_view))
        r.add("GET", "/api/openapi.json", lambda request: as_json(api.OPENAPI))
        return r

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        secure = environ.get("wsgi.url_scheme") == "https"
        session = self._session_of_environ(environ)
        try:
            # Before sign-in a body is small: a larger one is refused unread (see http.ANONYMOUS_BODY).
            limit = MAX_BODY if session else ANONYMOUS_BODY
            if session and attachments.is_upload(str(environ.get("PATH_INFO", ""))):
                limit = min(limit, attachments.MAX_FORM)  # one file of at most 20 MB: refused unread beyond
            request = Request.from_environ(environ, max_body=limit)
            request.session = session
            response = self.router.match(request)(request)
        except HttpError as exc:
            is_api = str(environ.get("PATH_INFO", "")).startswith("/api/")
            response = (
                as_json({"error": exc.message}, exc.status)
                if is_api
                else page(
                    frame(
                        "出错了",
                        notice(exc.message, error=True) + '<p><a href="/">返回首页</a></p>',
                        session,
                    ),
                    exc.status,
                )
            )
        except Exception:
            log.exception("web request failed")
            response = page(frame("出错了", notice("服务内部错误，请稍后再试", error=True), session), 500)
        if environ.get("REQUEST_METHOD") == "HEAD":
            response.body = b""
            response.stream = [] if response.stream is not None else None
        return respond(response, start_response, secure=secure)

    def _session_of_environ(self, environ: dict[str, Any]) -> Session | None:
        """The caller's live session, read from the cookie header before anything else of the request."""
        cookie = SimpleCookie()
        try:
            cookie.load(str(environ.get("HTTP_COOKIE", "")))
        except CookieError:
            return None
        morsel = cookie.get(COOKIE)
        return self.sessions.get(morsel.value) if morsel is not None and morsel.value else None

    # Sessions -------------------------------------------------------------------------------------------

    def session_of(self, request: Request) -> Session | None:
        """The request's session (read before its body), else the one its cookie names, if still live."""
        if request.session is not None:
            return request.session  # type: ignore[no-any-return]
        session_id = request.cookies.get(COOKIE, "")
        return self.sessions.get(session_id) if session_id else None

    def page(self, view: View, roles: frozenset[str], back: str) -> Callable[[Request], Response]:
        """A desk page: a live session of the right role, CSRF checked on every POST, refusals shown."""

        def handle(request: Request) -> Response:
            session = self.session_of(request)
            if session is None:
                return redirect("/login", expired="1")
            if session.must_change and request.path != password.PATH:
                return redirect(password.PATH)
            if session.role not in roles:
                raise HttpError(403, "您的角色不能打开这个页面")
            if request.method == "POST" and not session.csrf_ok(request.form.get("csrf", "")):
                log.warning("csrf refused", extra={"path": request.path, "user": session.username})
                raise HttpError(403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试")
            try:
                return view(self.gw, session, request)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    self.sessions.end(session.id)
                    return redirect("/login", expired="1")
                if back:
                    # A back page may name the path's own parts: /tasks/{task} after a refused step.
                    target = back.format(**{k: part(v) for k, v in request.params.items()})
                    return redirect(target, error=refusal(exc))
                if request.path == "/office/import":
                    return ledger_import.form(self.gw, session, request, import_refusal(exc))
                raise HttpError(HTTP_OF.get(exc.code().name, 502), refusal(exc)) from None
            except DomainError as exc:
                code, said = edge_refusal(exc)
                if back:
                    return redirect(
                        back.format(**{k: part(v) for k, v in request.params.items()}), error=said
                    )
                raise HttpError(HTTP_OF.get(code, 502), said) from None

        return handle

    def api(self, view: View) -> Callable[[Request], Response]:
        """An API call: a bearer token (passed on to the gateway) or the session's."""

        def handle(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer "):
                caller = Session("", header[7:].strip(), "", "", "", "", "", 0, 0)
            else:
                found = self.session_of(request)
                if found is None:
                    return as_json(
                        {"error": "未登录：请带 Authorization: Bearer 令牌", "code": "UNAUTHENTICATED"}, 401
                    )
                if found.must_change:
                    return as_json({"error": "请先修改一次性密码", "code": "PERMISSION_DENIED"}, 403)
                caller = found
            try:
                return view(self.gw, caller, request)
            except grpc.RpcError as exc:
                code = exc.code().name
                return as_json({"error": exc.details() or code, "code": code}, HTTP_OF.get(code, 502))
            except DomainError as exc:
                code = status.code_for(exc).name
                return as_json({"error": str(exc), "code": code}, HTTP_OF.get(code, 502))

        return handle

    def home(self, request: Request) -> Response:
        """To the login form, or to the desk of the signed-in person's role."""
        session = self.session_of(request)
        if session is None:
            return redirect("/login")
        return redirect(landing(session))
