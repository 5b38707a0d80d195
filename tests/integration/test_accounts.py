"""Login accounts: stored by the gateway (SQLite and PostgreSQL), argon2id, a throttled, audited Login."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc, gateway_pb2, gateway_pb2_grpc

from services.cli.main import main
from services.common.auth import Identity
from services.common.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from services.common.tokens import TokenKeys, verify_user_token
from services.gateway.accounts.domain import FREE_ADDRESS_FAILURES, FREE_FAILURES, Throttle
from services.gateway.accounts.storage import open_database
from services.gateway.accounts.use_cases import Accounts, ensure_first_office, jwt_issuer
from tests.conftest import Databases, Stack
from tests.web.stack import with_accounts

PASSWORD = "correct horse battery"
UNITS = (
    '{"type":"unit","id":"fgj","name":"发改局","category":"department"}\n'
    '{"type":"unit","id":"czj","name":"财政局","category":"department"}\n'
).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_accounts(url: str, clock: Clock, audited: list[tuple[str, str, str]]) -> Accounts:
    def audit(identity: Identity, method: str, outcome: str, detail: str) -> None:
        audited.append((method, outcome, detail))

    return Accounts(
        open_database(url),
        issue=lambda i, generation: f"token:{i.role}:{i.unit}:{i.subject}",
        audit=audit,
        clock=clock,
    )


def test_accounts_are_stored_hashed_and_managed(databases: Databases) -> None:
    clock, audited = Clock(), []
    accounts = make_accounts(databases.url("gateway"), clock, audited)
    accounts.add(username="fgj.clerk", role="department", unit="fgj", name="张三", password=PASSWORD)
    accounts.add(username="office1", role="office", unit="", name="", password=PASSWORD)
    with pytest.raises(AlreadyExists):
        accounts.add(username="office1", role="office", unit="", name="", password=PASSWORD)
    with pytest.raises(InvalidArgument):
        accounts.add(username="dep", role="department", unit="", name="", password=PASSWORD)
    with pytest.raises(InvalidArgument):
        accounts.add(username="short", role="viewer", unit="", name="", password="1234567")
    listed = accounts.list()
    assert [(a.username, a.role, a.unit, a.name) for a in listed] == [
        ("fgj.clerk", "department", "fgj", "张三"),
        ("office1", "office", "", ""),
    ]
    assert all(a.password_hash.startswith("$argon2id$") and PASSWORD not in a.password_hash for a in listed)

    token, account = accounts.login(username="fgj.clerk", password=PASSWORD, address="10.0.0.1")
    assert token == "token:department:fgj:user:fgj.clerk"
    assert account.last_login_at == int(clock.now)

    accounts.set_password("fgj.clerk", "another long password")
    with pytest.raises(Unauthenticated):
        accounts.login(username="fgj.clerk", password=PASSWORD, address="10.0.0.1")
    accounts.login(username="fgj.clerk", password="another long password", address="10.0.0.1")
    accounts.disable("fgj.clerk")
    with pytest.raises(Unauthenticated):
        accounts.login(username="fgj.clerk", password="another long password", address="10.0.0.1")
    with pytest.raises(NotFound):
        accounts.disable("nobody")
    assert audited and all("password" not in d or PASSWORD not in d for _, _, d in audited)
    assert all(PASSWORD not in d and "another long" not in d for _, _, d in audited)
    accounts.db.dispose()


def test_failed_logins_lock_the_account_and_the_address_for_longer_each_time(databases: Databases) -> None:
    clock, audited = Clock(), []
    accounts = make_accounts(databases.url("gateway"), clock, audited)
    accounts.add(username="office1", role="office", unit="", name="", password=PASSWORD)
    for _ in range(FREE_FAILURES):
        with pytest.raises(Unauthenticated, match="用户名或密码错误"):
            accounts.login(username="office1", password="guess-guess", address="10.0.0.9")
    with pytest.raises(Unauthenticated, match="用户名或密码错误"):
        accounts.login(username="office1", password="guess-guess", address="10.0.0.9")
    # Now locked: even the right password waits, from any address.
    with pytest.raises(Unauthenticated, match="登录失败次数过多"):
        accounts.login(username="office1", password=PASSWORD, address="10.0.0.7")
    clock.now += 3
    accounts.login(username="office1", password=PASSWORD, address="10.0.0.7")
    # An address is a whole office's: slowed only after more failures, then for every account, longer.
    for n in range(FREE_ADDRESS_FAILURES - FREE_FAILURES - 1):
        with pytest.raises(Unauthenticated, match="用户名或密码错误"):
            accounts.login(username=f"someone-{n}", password="x" * 8, address="10.0.0.9")
    with pytest.raises(Unauthenticated, match="用户名或密码错误"):
        accounts.login(username="someone-else", password="x" * 8, address="10.0.0.9")
    with pytest.raises(Unauthenticated, match="登录失败次数过多，请 3 秒后再试"):
        accounts.login(username="office1", password=PASSWORD, address="10.0.0.9")
    assert len([a for a in audited if a[1] == "denied"]) == FREE_ADDRESS_FAILURES + 1
    accounts.db.dispose()


def test_an_offices_clerks_log_in_at_once_from_its_one_address(databases: Databases) -> None:
    """Twelve right passwords at the same moment through one exit address: every one is let in."""
    clock, audited = Clock(), []
    accounts = make_accounts(databases.url("gateway"), clock, audited)
    for n in range(12):
        accounts.add(username=f"clerk{n}", role="office", unit="", name="", password=PASSWORD)
    with ThreadPoolExecutor(12) as pool:
        let_in = list(
            pool.map(
                lambda n: (
                    accounts.login(username=f"clerk{n}", password=PASSWORD, address="10.0.0.5")[1].username
                ),
                range(12),
            )
        )
    assert sorted(let_in) == sorted(f"clerk{n}" for n in range(12))
    accounts.db.dispose()


def test_the_throttle_doubles_and_forgets() -> None:
    throttle = Throttle()
    for n in range(FREE_FAILURES + 3):
        throttle.fail(["k"], now=100.0 + n)
    assert throttle.strikes["k"].locked_until == 100.0 + FREE_FAILURES + 2 + 8
    throttle.fail(["other"], now=100_000.0)
    assert "k" not in throttle.strikes


def test_with_the_jwt_issuer_a_login_gives_a_persons_jwt(tmp_path: Path) -> None:
    keys = TokenKeys.from_secrets(b"a-secret-for-this-test-0123456789")
    accounts = Accounts(
        open_database(f"sqlite:///{tmp_path / 'gateway.db'}"),
        issue=jwt_issuer(keys.user),
        audit=lambda *args: None,
    )
    accounts.add(username="fgj.clerk", role="department", unit="fgj", name="", password=PASSWORD)
    token, _ = accounts.login(username="fgj.clerk", password=PASSWORD, address="10.0.0.1")
    identity = verify_user_token(token, ring=keys.user)
    assert (identity.role, identity.unit, identity.subject) == ("department", "fgj", "user:fgj.clerk")
    accounts.db.dispose()


def test_the_first_office_account_is_made_once(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'gateway.db'}")
    password = ensure_first_office(db)
    assert password and len(password) >= 12
    assert ensure_first_office(db) is None
    db.dispose()


@pytest.fixture
def gateway(stack: Stack, tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    stack.import_ledger(UNITS)
    with with_accounts(stack, f"sqlite:///{tmp_path / 'gateway.db'}") as address:
        yield stack, address


def test_login_over_grpc_needs_no_token_and_gives_one_for_the_account(gateway: tuple[Stack, str]) -> None:
    stack, address = gateway
    channel = stack.channel(address)
    accounts = accounts_pb2_grpc.AccountsServiceStub(channel)
    office = stack.metadata("office")
    accounts.AddAccount(
        accounts_pb2.AddAccountRequest(
            username="fgj", role=accounts_pb2.ROLE_DEPARTMENT, unit="fgj", password=PASSWORD
        ),
        metadata=office,
    )
    with pytest.raises(grpc.RpcError) as refused:
        accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(), metadata=stack.metadata("department", "fgj")
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as anonymous:
        accounts.ListAccounts(accounts_pb2.ListAccountsRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.RpcError) as wrong:
        accounts.Login(accounts_pb2.LoginRequest(username="fgj", password="not-the-password"))
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = accounts.Login(accounts_pb2.LoginRequest(username="fgj", password=PASSWORD))
    assert reply.expires_at.seconds > time.time() + 3000  # the token's exp, hours ahead
    who = gateway_pb2_grpc.GatewayServiceStub(channel).WhoAmI(
        gateway_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {reply.token}"),)
    )
    assert (who.role, who.unit, who.subject) == (accounts_pb2.ROLE_DEPARTMENT, "fgj", "user:fgj")
    audit = stack.audit_path.read_text(encoding="utf-8")
    assert "failed login for 'fgj'" in audit and "not-the-password" not in audit


def test_the_cli_manages_accounts_and_logs_in(
    gateway: tuple[Stack, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, address = gateway
    monkeypatch.setenv("KAOHE_TLS_CA", str(stack.tls.ca))
    office = ["--gateway", address, "--token", stack.token("office")]

    def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().out

    assert (
        run(
            ["accounts", "add", "clerk", "--role", "单位", "--unit", "fgj", "--name", "李四", *office],
            PASSWORD + "\n",
        )[0]
        == 0
    )
    code, out = run(["accounts", "list", "--json", *office])
    assert code == 0
    assert json.loads(out)["accounts"][0] | {"created_at": ""} == {
        "username": "clerk",
        "role": "department",
        "unit": "fgj",
        "name": "李四",
        "disabled": False,
        "created_at": "",
        "last_login_at": "",
        "must_change_password": False,
    }
    code, token = run(["login", "--username", "clerk", "--gateway", address], PASSWORD + "\n")
    assert code == 0 and token.strip().count(".") == 2
    assert run(["accounts", "passwd", "clerk", *office], "a new long password\n")[0] == 0
    assert run(["login", "--username", "clerk", "--gateway", address], PASSWORD + "\n")[0] == 1
    assert run(["accounts", "disable", "clerk", *office])[0] == 0
    assert run(["login", "--username", "clerk", "--gateway", address], "a new long password\n")[0] == 1
    assert run(["accounts", "add", "x1", "--role", "office", *office], "")[0] == 2
