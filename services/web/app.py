"""The console as a WSGI application: sign-in, sessions, CSRF, the routes of both desks and the API."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

import grpc
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2

from services.common import status
from services.common.protoenum import enum_code
from services.web import (
    api,
    appeals,
    attachments,
    bulletin,
    department,
    ledger_import,
    office,
    password,
    people,
    records,
    result_documents,
    supervision,
)
from services.web.attachments import DESK as ATTACHMENT_DESK
from services.web.extensions import DESK as EXTENSION_DESK
from services.web.extensions_api import ROUTES as EXTENSION_API
from services.web.gateway import Gateway
from services.web.http import (
    ANONYMOUS_BODY,
    MAX_BODY,
    HttpError,
    Request,
    Response,
    Router,
    as_json,
    esc,
    page,
    part,
    redirect,
    respond,
)
from services.web.layout import frame, notice
from services.web.oidc import (
    CALLBACK,
    LOGIN_LINK,
    STATE_COOKIE,
    OidcError,
    OidcLogin,
    oidc_login_from_env,
    signed_in_page,
    state_cookie,
)
from services.web.sessions import COOKIE, Session, Sessions

log = logging.getLogger("kaohe.web")
STATIC = Path(__file__).resolve().parent / "static"
LOGIN_CSRF = "kaohe_login_csrf"
READERS = frozenset({"office", "supervisor", "viewer"})
EVERYONE = READERS | {"department"}
View = Callable[[Gateway, Session, Request], Response]
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
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
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
        self.router = Router()
        r = self.router
        r.add("GET", "/", self.home)
        r.add("GET", "/healthz", lambda request: Response(b"ok", content_type="text/plain"))
        r.add("GET", "/login", self.login_form)
        r.add("POST", "/login", self.login)
        r.add("POST", "/logout", self.logout)
        r.add("GET", "/login/oidc", self.oidc_start)
        r.add("GET", CALLBACK, self.oidc_callback)
        r.add("GET", "/static/{a}", self.static)
        r.add("GET", "/favicon.ico", self.favicon)
        r.add("GET", "/static/vendor/{a}/{b}", self.static)
        desk: list[tuple[str, str, View, frozenset[str], str]] = [
            ("GET", "/unit", department.home, frozenset({"department"}), ""),
            ("POST", "/unit/appeal", department.appeal, frozenset({"department"}), "/unit"),
            ("GET", "/unit/export", department.export, frozenset({"department"}), "/unit"),
            ("GET", "/unit/appeals", appeals.unit_page, frozenset({"department"}), ""),
            ("POST", "/unit/appeals", appeals.file_appeal, frozenset({"department"}), "/unit/appeals"),
            (
                "POST",
                "/unit/applications",
                appeals.file_application,
                frozenset({"department"}),
                "/unit/appeals",
            ),
            ("GET", "/office", office.overview, READERS, ""),
            ("GET", "/office/runs", office.runs, READERS, ""),
            ("POST", "/office/runs", office.create_run, READERS, "/office/runs"),
            ("GET", "/office/runs/{run}", office.run_detail, READERS, ""),
            ("GET", "/office/runs/{run}/units/{unit}", office.run_unit, READERS, ""),
            ("POST", "/office/runs/{run}/{action}", office.move_run, READERS, "/office/runs"),
            ("GET", "/office/appeals", appeals.office_appeals, READERS, ""),
            ("POST", "/office/appeals/{appeal}/decide", office.decide, READERS, "/office/appeals"),
            ("GET", "/office/tolerance", appeals.office_applications, READERS, ""),
            (
                "POST",
                "/office/tolerance/{application}/decide",
                appeals.decide_application,
                READERS,
                "/office/tolerance",
            ),
            ("GET", "/office/ranking", office.ranking, READERS, ""),
            ("GET", "/office/import", ledger_import.form, READERS, ""),
            ("POST", "/office/import", ledger_import.upload, READERS, ""),
            ("GET", "/office/export", office.export, READERS, "/office/runs"),
            ("GET", "/office/accounts", office.accounts, READERS, ""),
            ("POST", "/office/accounts", office.add_account, READERS, "/office/accounts"),
            (
                "POST",
                "/office/accounts/{username}/disable",
                self.disable_account,
                READERS,
                "/office/accounts",
            ),
        ]
        desk += [
            ("GET", "/tasks", supervision.task_list, EVERYONE, ""),
            ("GET", "/tasks/new", supervision.new_task_form, supervision.DISPATCHERS, ""),
            ("POST", "/tasks", supervision.create_task, supervision.DISPATCHERS, "/tasks/new"),
            ("GET", "/tasks/{task}", supervision.task_detail, EVERYONE, ""),
            ("POST", "/tasks/{task}/{step}", supervision.take_step, EVERYONE, "/tasks/{task}"),
            ("GET", "/office/bulletin", bulletin.bulletin_form, READERS, ""),
            ("GET", "/office/bulletin/download", bulletin.bulletin_download, READERS, "/office/bulletin"),
            ("GET", "/office/records", records.records_page, READERS, ""),
            ("GET", "/office/records/{kind}", records.records_page, READERS, ""),
            ("POST", "/office/records/{kind}", records.add_record, records.OFFICE, "/office/records/{kind}"),
            (
                "POST",
                "/office/records/{kind}/{record}/void",
                records.void_record,
                records.OFFICE,
                "/office/records/{kind}",
            ),
        ]
        desk[:0] = EXTENSION_DESK  # first: /tasks/{task}/extension before /tasks/{task}/{step}
        desk[:0] = ATTACHMENT_DESK  # first too: /tasks/{task}/attachments is no step
        desk += [
            ("GET", password.PATH, password.form, EVERYONE, ""),
            ("POST", password.PATH, self.change_password, EVERYONE, ""),
        ]
        desk += [
            ("GET", "/persons", people.persons_page, EVERYONE, ""),
            ("GET", "/persons/{person}", people.person_page, EVERYONE, ""),
            ("GET", "/office/runs/{run}/notice", result_documents.notice, READERS, "/office/runs/{run}"),
            (
                "GET",
                "/office/runs/{run}/excellent",
                result_documents.excellent,
                READERS,
                "/office/runs/{run}",
            ),
            (
                "GET",
                "/office/runs/{run}/letters/{unit}",
                result_documents.letter,
                READERS,
                "/office/runs/{run}",
            ),
            ("GET", "/unit/letter", result_documents.own_letter, frozenset({"department"}), "/unit"),
        ]
        for method, path, view, roles, back in desk:
            r.add(method, path, self.page(view, roles, back))
        for path, view in (
            ("/api/overview", api.overview),
            ("/api/dashboard", api.dashboard),
            ("/api/runs", api.runs),
            ("/api/runs/{run}", api.run),
            ("/api/tasks", api.tasks),
            ("/api/units", api.units),
            ("/api/overdue-trend", api.overdue_trend),
        ):
            r.add("GET", path, self.api(view))
        for method, path, view in EXTENSION_API:
            r.add(method, path, self.api(view))
        r.add("GET", "/api/openapi.json", lambda request: as_json(api.OPENAPI))

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

        return handle

    # Sign-in ------------------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return redirect("/login")
        return redirect("/unit" if session.role == "department" else "/office")

    def login_form(self, request: Request, message: str = "", status_code: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        expired = notice("会话已过期或已退出，请重新登录", error=True) if request.query.get("expired") else ""
        changed = notice("密码已修改，请用新密码登录") if request.query.get("changed") else ""
        body = (
            expired
            + changed
            + (notice(message, error=True) if message else "")
            + '<form method="post" action="/login" class="stack login">'
            f'<input type="hidden" name="csrf" value="{esc(token)}">'
            '<label for="username">用户名</label>'
            '<input id="username" name="username" autocomplete="username" required autofocus>'
            '<label for="password">密码</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password" required>'
            '<button type="submit">登录</button></form>'
        )
        if self.oidc is not None:
            body += LOGIN_LINK
        response = page(frame("登录", body), status_code)
        response.cookie(LOGIN_CSRF, token, secure=request.secure, max_age=3600)
        return response

    def login(self, request: Request) -> Response:
        form = request.form
        presented, expected = form.get("csrf", ""), request.cookies.get(LOGIN_CSRF, "")
        if not presented or not expected or not secrets.compare_digest(presented, expected):
            return self.login_form(request, "表单已失效，请重新登录", 403)
        try:
            reply = self.gw.login(
                accounts_pb2.LoginRequest(
                    username=form.get("username", "").strip(),
                    password=form.get("password", ""),
                    client_address=request.remote,
                ),
            )
            who = self.gw.call(self.gw.gateway.WhoAmI, gateway_pb2.WhoAmIRequest(), reply.token)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                return self.login_form(request, refusal(exc), 503)
            # The gateway says why in Chinese (wrong password, too many attempts, and how long to wait).
            return self.login_form(request, exc.details() or "登录失败", 401)
        session = self.start_session(
            request,
            token=reply.token,
            who=who,
            username=reply.account.username,
            name=reply.account.name,
            must_change=reply.must_change_password,
        )
        landing = "/unit" if session.role == "department" else "/office"
        response = redirect(password.PATH if session.must_change else landing)
        response.cookie(COOKIE, session.id, secure=request.secure)
        response.cookie(LOGIN_CSRF, "", secure=request.secure, max_age=0)
        return response

    def start_session(
        self, request: Request, *, token: str, who: Any, username: str, name: str, must_change: bool = False
    ) -> Session:
        return self.sessions.start(
            token=token,
            role=enum_code(accounts_pb2.Role.DESCRIPTOR, who.role),
            unit=who.unit,
            username=username,
            name=name,
            token_expiry=float(who.expires_at.seconds),
            must_change=must_change,
        )

    # Accounts: a session ends with its password and with its account ------------------------------------

    def change_password(self, gw: Gateway, session: Session, request: Request) -> Response:
        response = password.change(gw, session, request)
        if response.status == 303:
            self.sessions.end_user(session.username)
            response.cookie(COOKIE, "", secure=request.secure, max_age=0)
        return response

    def disable_account(self, gw: Gateway, session: Session, request: Request) -> Response:
        response = office.disable_account(gw, session, request)
        if response.status == 303:  # disabled (the confirmation page is a 200)
            self.sessions.end_user(request.params["username"])
        return response

    def oidc_start(self, request: Request) -> Response:
        """To the provider's authorization endpoint, this browser holding the sign-in's state."""
        if self.oidc is None:
            raise HttpError(404, "未配置统一身份认证")
        try:
            url, state = self.oidc.start(self.public_url)
        except OidcError as exc:
            return self.login_form(request, str(exc), 503)
        return Response(b"", 303, headers=[("Location", url), state_cookie(state, secure=request.secure)])

    def oidc_callback(self, request: Request) -> Response:
        """The provider's answer: the code for tokens (PKCE), the gateway's verdict, then a session."""
        if self.oidc is None:
            raise HttpError(404, "未配置统一身份认证")
        q = request.query
        try:
            pending = self.oidc.take(q.get("state", ""), request.cookies.get(STATE_COOKIE, ""))
            if q.get("error"):
                raise OidcError(f"统一身份认证未完成登录：{q.get('error_description') or q['error']}")
            tokens = self.oidc.exchange(q.get("code", ""), pending)
            who = self.gw.call(self.gw.gateway.WhoAmI, gateway_pb2.WhoAmIRequest(), tokens.token)
            if not self.oidc.id_token_nonce_ok(tokens, pending):
                raise OidcError("统一身份认证的 id_token 与本次登录不符（nonce），请重新登录")
        except OidcError as exc:
            log.warning("oidc sign-in refused", extra={"reason": str(exc)})
            return self.login_form(request, str(exc), 401)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                return self.login_form(request, refusal(exc), 503)
            log.warning("oidc token refused by the gateway", extra={"reason": exc.details()})
            return self.login_form(request, f"统一身份认证的令牌未被接受：{exc.details() or ''}", 401)
        session = self.start_session(
            request, token=tokens.token, who=who, username=tokens.username, name=tokens.name
        )
        response = page(signed_in_page("/unit" if session.role == "department" else "/office"))
        response.cookie(COOKIE, session.id, secure=request.secure)
        response.headers.append(state_cookie("", secure=request.secure))
        return response

    def logout(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is not None:
            if not session.csrf_ok(request.form.get("csrf", "")):
                raise HttpError(403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试")
            self.sessions.end(session.id)
        response = redirect("/login")
        response.cookie(COOKIE, "", secure=request.secure, max_age=0)
        return response

    def favicon(self, request: Request) -> Response:
        """What a browser asks for before it reads a page's <link rel=icon>."""
        request.params = {"a": "favicon.svg"}
        return self.static(request)

    def static(self, request: Request) -> Response:
        relative = "/".join(request.params[k] for k in ("a", "b") if k in request.params)
        if "vendor/" not in request.path:
            path = (STATIC / relative).resolve()
        else:
            path = (STATIC / "vendor" / relative).resolve()
        if STATIC not in path.parents or not path.is_file() or path.suffix not in TYPES:
            raise HttpError(404, "没有这个文件")
        response = Response(path.read_bytes(), 200, TYPES[path.suffix])
        response.headers.append(("Cache-Control", "public, max-age=3600"))
        return response


def import_refusal(exc: grpc.RpcError) -> str:
    """A refused import: every bad line with its reason (the ledger is all or nothing)."""
    violations = status.field_violations(exc)
    if not violations:
        return notice(refusal(exc), error=True)
    items = "".join(f"<li><code>{esc(v.field)}</code>：{esc(v.description)}</li>" for v in violations)
    label = status.LABELS.get(exc.code().name, exc.code().name)
    return (
        f'<div class="notice error" role="alert"><p>{esc(label)}：台账未导入，共 {len(violations)} 处问题</p>'
        f'<ul class="violations">{items}</ul></div>'
    )
