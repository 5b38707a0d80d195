"""The office's accounts page: every account of the console, adding one and disabling one."""

from __future__ import annotations

import secrets
from typing import Any, cast

from kaohe.gateway.v1 import accounts_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.protoenum import enum_code
from services.common.vocabulary import ROLES, label_of
from services.common.wire_json import lenient_number, utc_text
from services.web.confirm import confirm_first
from services.web.gateway import Gateway
from services.web.layout import (
    Raw,
    button_form,
    csrf_field,
    esc,
    flash,
    frame,
    instant,
    row,
    table,
    unit_attrs,
)
from services.web.replies import form_of, page, part, redirect
from services.web.supervision import request_id_field


def accounts(gw: Gateway, session: Any, request: Request) -> Response:
    reply = gw.call(gw.accounts.ListAccounts, accounts_pb2.ListAccountsRequest(), session.token)
    rows = [
        row(
            [
                a.username,
                label_of(ROLES, enum_code(accounts_pb2.Role.DESCRIPTOR, a.role)),
                a.unit,
                a.name,
                "已停用" if a.disabled else "正常",
                instant(utc_text(a, "last_login_at")),
                Raw(
                    ""
                    if a.disabled
                    else button_form(
                        f"/office/accounts/{part(a.username)}/disable", "停用", session, css="danger"
                    )
                ),
            ],
            attrs=unit_attrs(a.unit) if a.unit else "",
        )
        for a in reply.accounts
    ]
    roles = "".join(f'<option value="{code}">{esc(label)}</option>' for code, label in ROLES.items())
    form = (
        f'<h2>新增账号</h2><form method="post" action="/office/accounts" class="stack">{csrf_field(session)}'
        f"{request_id_field()}"
        '<label for="username">用户名</label><input id="username" name="username" required>'
        f'<label for="role">角色</label><select id="role" name="role">{roles}</select>'
        '<label for="unit">单位代码（单位角色必填）</label><input id="unit" name="unit">'
        '<label for="name">姓名</label><input id="name" name="name">'
        '<label for="password">初始密码（至少 8 位）</label>'
        '<input id="password" name="password" type="password" minlength="8" required'
        ' autocomplete="new-password">'
        "<button type=submit>新增</button></form>"
    )
    body = flash(request) + table(["用户名", "角色", "单位", "姓名", "状态", "最近登录", ""], rows) + form
    return page(frame("账号", body, session))


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
