"""The office's accounts page: every account of the console, adding one and disabling one."""

from __future__ import annotations

import secrets
from typing import Any, cast

from kaohe.gateway.v1 import accounts_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.protoenum import enum_code
from services.common.vocabulary import ROLES
from services.common.wire_json import lenient_number, utc_text
from services.web.confirm import confirm_first
from services.web.gateway import Gateway
from services.web.replies import form_of, redirect
from services.web.templating import render


def accounts(gw: Gateway, session: Any, request: Request) -> Response:
    reply = gw.call(gw.accounts.ListAccounts, accounts_pb2.ListAccountsRequest(), session.token)
    shown = [
        {
            "username": a.username,
            "role": enum_code(accounts_pb2.Role.DESCRIPTOR, a.role),
            "unit": a.unit,
            "name": a.name,
            "disabled": a.disabled,
            "last_login": utc_text(a, "last_login_at"),
        }
        for a in reply.accounts
    ]
    return render(
        request,
        "office/accounts.html",
        title="账号",
        accounts=shown,
        roles=list(ROLES.items()),
        request_id=secrets.token_hex(16),  # submitting the same form twice adds once
    )


def add_account(gw: Gateway, session: Any, request: Request) -> Response:
    f = form_of(request)
    account = gw.call(
        gw.accounts.AddAccount,
        accounts_pb2.AddAccountRequest(
            username=f.get("username", "").strip(),
            role=cast(accounts_pb2.Role, lenient_number(accounts_pb2.Role.DESCRIPTOR, f.get("role", ""))),
            unit=f.get("unit", "").strip(),
            name=f.get("name", "").strip(),
            password=f.get("password", ""),
            request_id=f.get("request_id", "") or secrets.token_hex(16),
        ),
        session.token,
    ).account
    return redirect("/office/accounts", ok=f"已新增账号 {account.username}")


def disable_account(gw: Gateway, session: Any, request: Request) -> Response:
    username = request.path_params["username"]
    asked = confirm_first(
        request,
        session,
        title="确认停用账号",
        consequence=f"停用账号 {username}：该账号立即不能再登录，已登录的会话随之结束。",
        button="确认停用",
        back="/office/accounts",
    )
    if asked is not None:
        return asked
    request_id = form_of(request).get("request_id", "") or secrets.token_hex(16)
    gw.call(
        gw.accounts.DisableAccount,
        accounts_pb2.DisableAccountRequest(username=username, request_id=request_id),
        session.token,
    )
    return redirect("/office/accounts", ok=f"已停用账号 {username}")
