"""修改密码: a person changes their own password; a one-time password is changed before anything else."""

from __future__ import annotations

import secrets

import grpc
from kaohe.gateway.v1 import accounts_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.web.gateway import Gateway
from services.web.replies import form_of, redirect
from services.web.sessions import Session
from services.web.templating import render

PATH = "/account/password"
MIN_LENGTH = 8
FIELDS = (
    ("current_password", "当前密码", "current-password"),
    ("new_password", f"新密码（至少 {MIN_LENGTH} 位）", "new-password"),
    ("repeat_password", "再次输入新密码", "new-password"),
)


def form(gw: Gateway, session: Session, request: Request, message: str = "", status: int = 200) -> Response:
    return render(
        request,
        "office/password.html",
        status,
        title="修改密码",
        message=message,
        path=PATH,
        fields=FIELDS,
        min_length=MIN_LENGTH,
        # A fresh request id, made when the form is drawn: submitting the same form twice acts once.
        request_id=secrets.token_hex(16),
    )


def change(gw: Gateway, session: Session, request: Request) -> Response:
    """The gateway changes the password (the caller's token names the account); then a new sign-in."""
    f = form_of(request)
    current, new = f.get("current_password", ""), f.get("new_password", "")
    if len(new) < MIN_LENGTH:
        return form(gw, session, request, f"新密码至少 {MIN_LENGTH} 位", 422)
    if new != f.get("repeat_password", ""):
        return form(gw, session, request, "两次输入的新密码不一致", 422)
    if new == current:
        return form(gw, session, request, "新密码不能与当前密码相同", 422)
    try:
        gw.call(
            gw.accounts.ChangePassword,
            accounts_pb2.ChangePasswordRequest(
                current_password=current,
                new_password=new,
                request_id=f.get("request_id", "") or secrets.token_hex(16),
            ),
            session.token,
        )
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return form(gw, session, request, "当前密码不正确", 403)
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return form(gw, session, request, f"新密码不符合要求：{exc.details() or ''}", 422)
        raise
    return redirect("/login", changed="1")
