"""Login accounts (the office's) and `kaohe login`: passwords always come from standard input."""

from __future__ import annotations

import argparse
import sys
from typing import cast

from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from services.cli.client import EXIT_OK, Client, Usage, emit, request_id
from services.cli.options import Commands, command, group, listed, term
from services.common.protoenum import enum_code, enum_number
from services.common.vocabulary import ROLES, label_of
from services.common.wire_json import in_utc, wire_plain


def _password() -> str:
    """One line of standard input, without its line end (so `echo pw | kaohe …` and a pipe both work)."""
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise Usage("密码从标准输入读取一行，但标准输入是空的")
    return line


def _stub(client: Client) -> accounts_pb2_grpc.AccountsServiceStub:
    return accounts_pb2_grpc.AccountsServiceStub(client.channel)


def _plain(account: accounts_pb2.Account, *, always: bool = False) -> dict[str, object]:
    """An account as `--json` writes it: its role's code, its instants in UTC."""
    return wire_plain(account, instant=in_utc, always_print_fields_with_no_presence=always)


def _line(account: accounts_pb2.Account) -> str:
    role = enum_code(accounts_pb2.Role.DESCRIPTOR, account.role)
    unit = f" {account.unit}" if account.unit else ""
    state = (
        "（已停用）"
        if account.disabled
        else ("（一次性密码，待本人修改）" if account.must_change_password else "")
    )
    return f"{account.username}\t{label_of(ROLES, role)}{unit}\t{account.name}{state}"


def cmd_accounts_add(args: argparse.Namespace) -> int:
    client = Client(args)
    request = accounts_pb2.AddAccountRequest(
        username=args.username,
        role=cast(accounts_pb2.Role, enum_number(accounts_pb2.Role.DESCRIPTOR, args.role, field="role")),
        unit=args.unit or "",
        name=args.name or "",
        password=_password(),
        temporary=args.temporary,
        request_id=request_id(),
    )
    account = client.call(_stub(client).AddAccount, request).account
    emit(args, _plain(account), lambda: f"已创建账号 {_line(account)}")
    return EXIT_OK


def cmd_accounts_list(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(_stub(client).ListAccounts, accounts_pb2.ListAccountsRequest())
    data = {"accounts": [_plain(a, always=True) for a in reply.accounts]}
    emit(args, data, lambda: "\n".join(_line(a) for a in reply.accounts) or "（还没有账号）")
    return EXIT_OK


def cmd_accounts_disable(args: argparse.Namespace) -> int:
    client = Client(args)
    account = client.call(
        _stub(client).DisableAccount,
        accounts_pb2.DisableAccountRequest(username=args.username, request_id=request_id()),
    ).account
    emit(args, _plain(account), lambda: f"已停用账号 {account.username}")
    return EXIT_OK


def cmd_accounts_enable(args: argparse.Namespace) -> int:
    client = Client(args)
    account = client.call(
        _stub(client).EnableAccount,
        accounts_pb2.EnableAccountRequest(username=args.username, request_id=request_id()),
    ).account
    emit(args, _plain(account), lambda: f"已启用账号 {account.username}（需重新登录）")
    return EXIT_OK


def cmd_passwd(args: argparse.Namespace) -> int:
    """One's own password: the current and the new, one line each on standard input."""
    client = Client(args)
    current, new = _password(), _password()
    account = client.call(
        _stub(client).ChangePassword,
        accounts_pb2.ChangePasswordRequest(
            current_password=current, new_password=new, request_id=request_id()
        ),
    ).account
    emit(
        args,
        _plain(account),
        lambda: (
            f"已修改账号 {account.username} 的密码；此前的令牌都已失效，请用新密码重新登录（kaohe login）"
        ),
    )
    return EXIT_OK


def cmd_accounts_passwd(args: argparse.Namespace) -> int:
    client = Client(args)
    account = client.call(
        _stub(client).SetPassword,
        accounts_pb2.SetPasswordRequest(
            username=args.username, password=_password(), request_id=request_id()
        ),
    ).account
    emit(args, _plain(account), lambda: f"已重设账号 {account.username} 的密码")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        _stub(client).Login, accounts_pb2.LoginRequest(username=args.username, password=_password())
    )
    document = {
        "token": reply.token,
        "account": _plain(reply.account),
        "must_change_password": reply.must_change_password,
    }
    emit(args, document, lambda: reply.token)
    if reply.must_change_password:
        # On standard error, so that `KAOHE_TOKEN=$(kaohe login …)` still takes the token alone.
        print(
            "注意：这是一次性密码，必须先修改："
            "printf '旧密码\\n新密码\\n' | kaohe passwd --token <上面的令牌>",
            file=sys.stderr,
        )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """accounts add, list, disable, enable, passwd; login; passwd."""
    accounts = group(commands, "accounts", "登录账号（考核办管理）：新增、列出、停用、启用、重设密码")
    p = command(accounts, "add", "新增一个登录账号（密码从标准输入读一行）", common=common)
    p.add_argument("username", help="用户名")
    p.add_argument("--role", required=True, type=term(ROLES, what="角色"), help=f"角色：{listed(ROLES)}")
    p.add_argument("--unit", help="单位代码（单位角色必填）")
    p.add_argument("--name", help="姓名")
    p.add_argument(
        "--temporary", action="store_true", help="一次性密码：本人首次登录后必须先修改密码才能使用"
    )
    p.set_defaults(func=cmd_accounts_add)

    p = command(accounts, "list", "列出登录账号", common=common)
    p.set_defaults(func=cmd_accounts_list)

    p = command(accounts, "disable", "停用一个登录账号", common=common)
    p.add_argument("username", help="用户名")
    p.set_defaults(func=cmd_accounts_disable)

    p = command(accounts, "enable", "重新启用一个已停用的登录账号", common=common)
    p.add_argument("username", help="用户名")
    p.set_defaults(func=cmd_accounts_enable)

    p = command(accounts, "passwd", "重设一个账号的密码（新密码从标准输入读一行）", common=common)
    p.add_argument("username", help="用户名")
    p.set_defaults(func=cmd_accounts_passwd)

    p = command(
        commands,
        "login",
        "用账号登录，打印访问令牌（供 KAOHE_TOKEN 使用；密码从标准输入读一行）",
        common=common,
    )
    p.add_argument("--username", required=True, help="用户名")
    p.set_defaults(func=cmd_login)

    p = command(
        commands,
        "passwd",
        "修改自己的密码（用 kaohe login 得到的令牌；标准输入两行：当前密码、新密码），之后用新密码重新登录",
        common=common,
    )
    p.set_defaults(func=cmd_passwd)
