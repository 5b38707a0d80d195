"""Signing in and out of the console: the login form, the gateway's login, 统一身份认证 (OIDC), logout, and
the sessions that end with a changed password or a disabled account."""

from __future__ import annotations

import logging
import secrets
from typing import Any, Protocol

import grpc
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.protoenum import enum_code
from services.web import accounts, password
from services.web.gateway import Gateway
from services.web.oidc import STATE_COOKIE, OidcError, OidcLogin, state_cookie
from services.web.refusals import refusal
from services.web.replies import Refused, form_of, is_https, page, redirect, set_cookie
from services.web.sessions import COOKIE, Session, Sessions
from services.web.templating import fragment, render

log = logging.getLogger("kaohe.web")
LOGIN_CSRF = "kaohe_login_csrf"


class Host(Protocol):
    """What sign-in reads of the console at each request (a test or __main__ may replace any of it)."""

    gw: Gateway
    sessions: Sessions
    oidc: OidcLogin | None
    public_url: str

    def session_of(self, request: Request) -> Session | None: ...


def landing(session: Session) -> str:
    """Where a signed-in person starts: a 单位 at its own desk, everyone else at the office's."""
    return "/unit" if session.role == "department" else "/office"


def signed_in_page(target: str) -> str:
    """A page of ours that moves on to the desk, not a redirect: the chain began on the provider's site,
    and a SameSite=Strict session cookie is only sent on a navigation that starts here."""
    label = "本单位考核" if target == "/unit" else "全县态势"
    return fragment("signin/signed_in.html", target=target, label=label)


class SignIn:
    """The sign-in pages of a console, reading its gateway, sessions and OIDC provider as they are now."""

    def __init__(self, console: Host) -> None:
        self.console = console

    def login_form(self, request: Request, message: str = "", status_code: int = 200) -> Response:
        """The username/password form, its CSRF token in a cookie of its own (there is no session yet)."""
        token = secrets.token_urlsafe(32)
        response = render(
            request,
            "signin/login.html",
            status_code,
            title="登录",
            expired=bool(request.query_params.get("expired")),
            changed=bool(request.query_params.get("changed")),
            message=message,
            login_csrf=token,
            oidc=self.console.oidc is not None,
        )
        set_cookie(response, request, LOGIN_CSRF, token, max_age=3600)
        return response

    def login(self, request: Request) -> Response:
        """The gateway checks the password; a session starts, or the form comes back with the reason."""
        form, gw = form_of(request), self.console.gw
        presented, expected = form.get("csrf", ""), request.cookies.get(LOGIN_CSRF, "")
        if not presented or not expected or not secrets.compare_digest(presented, expected):
            return self.login_form(request, "表单已失效，请重新登录", 403)
        try:
            reply = gw.login(
                accounts_pb2.LoginRequest(
                    username=form.get("username", "").strip(),
                    password=form.get("password", ""),
                    client_address=(request.client.host if request.client else ""),
                ),
            )
            who = gw.call(gw.gateway.WhoAmI, gateway_pb2.WhoAmIRequest(), reply.token)
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
        response = redirect(password.PATH if session.must_change else landing(session))
        set_cookie(response, request, COOKIE, session.id)
        set_cookie(response, request, LOGIN_CSRF, "", max_age=0)
        return response

    def start_session(
        self, request: Request, *, token: str, who: Any, username: str, name: str, must_change: bool = False
    ) -> Session:
        """A session holding the gateway's token, with the role and unit the gateway says it carries."""
        return self.console.sessions.start(
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
        """A changed password ends every session of its account, this one too."""
        response = password.change(gw, session, request)
        if response.status_code == 303:
            self.console.sessions.end_user(session.username)
            set_cookie(response, request, COOKIE, "", max_age=0)
        return response

    def disable_account(self, gw: Gateway, session: Session, request: Request) -> Response:
        """A disabled account's sessions end with it."""
        response = accounts.disable_account(gw, session, request)
        if response.status_code == 303:  # disabled (the confirmation page is a 200)
            self.console.sessions.end_user(request.path_params["username"])
        return response

    # 统一身份认证 -----------------------------------------------------------------------------------------

    def oidc_start(self, request: Request) -> Response:
        """To the provider's authorization endpoint, this browser holding the sign-in's state."""
        oidc = self.console.oidc
        if oidc is None:
            raise Refused(404, "未配置统一身份认证")
        try:
            url, state = oidc.start(self.console.public_url)
        except OidcError as exc:
            return self.login_form(request, str(exc), 503)
        response = Response(status_code=303, headers={"Location": url})
        response.headers.append(*state_cookie(state, secure=is_https(request)))
        return response

    def oidc_callback(self, request: Request) -> Response:
        """The provider's answer: the code for tokens (PKCE), the id_token checked (its signature, issuer,
        audience, expiry and nonce), the gateway's verdict, then a session."""
        oidc, gw = self.console.oidc, self.console.gw
        if oidc is None:
            raise Refused(404, "未配置统一身份认证")
        q = request.query_params
        try:
            pending = oidc.take(q.get("state", ""), request.cookies.get(STATE_COOKIE, ""))
            if q.get("error"):
                raise OidcError(f"统一身份认证未完成登录：{q.get('error_description') or q['error']}")
            tokens = oidc.exchange(q.get("code", ""), pending)
            who = gw.call(gw.gateway.WhoAmI, gateway_pb2.WhoAmIRequest(), tokens.token)
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
        response = page(signed_in_page(landing(session)))
        set_cookie(response, request, COOKIE, session.id)
        response.headers.append(*state_cookie("", secure=is_https(request)))
        return response

    def logout(self, request: Request) -> Response:
        """The session ends (its CSRF token checked: a page elsewhere cannot sign a person out)."""
        session = self.console.session_of(request)
        if session is not None:
            if not session.csrf_ok(form_of(request).get("csrf", "")):
                raise Refused(403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试")
            self.console.sessions.end(session.id)
        response = redirect("/login")
        set_cookie(response, request, COOKIE, "", max_age=0)
        return response
