"""Issue 20: every account write carries a request_id; the same id again (same caller, same request)
returns the first answer and does not act twice; the same id for a different request is refused. On
SQLite and on PostgreSQL (the gateway's requests table, gateway_requests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import grpc
import pytest
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2

from services.common.auth import Identity
from tests.conftest import Databases, Stack
from tests.integration.test_account_rules import PASSWORD, Gateway, code_of
from tests.integration.test_accounts import UNITS, Clock, make_accounts
from tests.web.stack import with_accounts


@pytest.fixture
def gateway(stack: Stack, databases: Databases) -> Iterator[Gateway]:
    stack.import_ledger(UNITS)
    url = databases.url("gateway")
    with with_accounts(stack, url) as address:
        yield Gateway(stack, address, url)


def test_adding_again_under_the_same_request_id_returns_the_first_account(gateway: Gateway) -> None:
    office = gateway.stack.metadata("office")
    add = accounts_pb2.AddAccountRequest(
        username="fgj1", role=accounts_pb2.ROLE_DEPARTMENT, unit="fgj", password=PASSWORD, request_id="r-add"
    )
    first = gateway.accounts.AddAccount(add, metadata=office, timeout=30)
    again = gateway.accounts.AddAccount(add, metadata=office, timeout=30)  # not "账号已存在"
    assert again == first and first.account.username == "fgj1" and first.account.HasField("created_at")
    listed = gateway.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), metadata=office, timeout=10)
    assert [a.username for a in listed.accounts] == ["fgj1"]
    other = accounts_pb2.AddAccountRequest()
    other.CopyFrom(add)
    other.username = "fgj2"
    code, details = code_of(lambda: gateway.accounts.AddAccount(other, metadata=office, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details
    # Without a request id, or with a new one, the same request acts again (and is refused: it exists).
    add.request_id = ""
    assert code_of(lambda: gateway.accounts.AddAccount(add, metadata=office, timeout=30))[0] == (
        grpc.StatusCode.ALREADY_EXISTS
    )


def test_setting_a_password_twice_under_one_request_id_ends_the_sessions_once(gateway: Gateway) -> None:
    office = gateway.stack.metadata("office")
    gateway.add("fgj1", "department", "fgj")
    reset = accounts_pb2.SetPasswordRequest(
        username="fgj1", password="reset by the office", request_id="r-set"
    )
    gateway.accounts.SetPassword(reset, metadata=office, timeout=30)
    token = gateway.login("fgj1", "reset by the office").token
    gateway.accounts.SetPassword(reset, metadata=office, timeout=30)  # a retry: the token stays good
    assert len(gateway.units(token).units) == 2
    reset.request_id = "r-set-2"  # a new request: it acts, and the token ends
    gateway.accounts.SetPassword(reset, metadata=office, timeout=30)
    assert code_of(lambda: gateway.units(token))[0] == grpc.StatusCode.UNAUTHENTICATED


def test_disable_and_enable_retried_give_their_first_answers_and_change_nothing(gateway: Gateway) -> None:
    office = gateway.stack.metadata("office")
    gateway.add("office1")
    gateway.add("fgj1", "department", "fgj")
    disable = accounts_pb2.DisableAccountRequest(username="fgj1", request_id="r-disable")
    enable = accounts_pb2.EnableAccountRequest(username="fgj1", request_id="r-enable")
    assert gateway.accounts.DisableAccount(disable, metadata=office, timeout=10).account.disabled
    assert not gateway.accounts.EnableAccount(enable, metadata=office, timeout=10).account.disabled
    # The disable sent again is answered as it was, and the account stays enabled.
    assert gateway.accounts.DisableAccount(disable, metadata=office, timeout=10).account.disabled
    listed = gateway.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), metadata=office, timeout=10)
    assert {a.username: a.disabled for a in listed.accounts} == {"fgj1": False, "office1": False}
    token = gateway.login("fgj1").token
    assert not gateway.accounts.EnableAccount(enable, metadata=office, timeout=10).account.disabled
    assert len(gateway.units(token).units) == 2


def test_a_password_change_retried_returns_the_first_answer(databases: Databases) -> None:
    audited: list[tuple[str, str, str]] = []
    accounts = make_accounts(databases.url("gateway"), Clock(), audited)
    accounts.add(username="fgj.clerk", role="department", unit="fgj", name="张三", password=PASSWORD)
    me = Identity(role="department", unit="fgj", subject="user:fgj.clerk")
    change = {"current_password": PASSWORD, "new_password": "my own new password", "address": "10.0.0.1"}
    first = accounts.change_password(me, **change, request_id="r-change")
    # The current password is the new one by now: a retry is still answered as the change was.
    again = accounts.change_password(me, **change, request_id="r-change")
    assert again == dataclasses.replace(first, password_hash="")  # a stored answer keeps no hash
    assert first.token_generation == 1
    stored = next(a for a in accounts.list() if a.username == "fgj.clerk")
    assert stored.token_generation == 1 and not audited


def test_an_import_sent_again_under_its_request_id_returns_the_first_answer(gateway: Gateway) -> None:
    office = gateway.stack.metadata("office")
    ledger = (
        b'{"type":"unit","id":"jyj","name":"\xe6\x95\x99\xe8\x82\xb2\xe5\xb1\x80","category":"department"}\n'
    )

    def send(data: bytes, request_id: str) -> gateway_pb2.ImportLedgerResponse:
        pieces = [
            gateway_pb2.ImportLedgerRequest(request_id=request_id, data=data[:10]),
            gateway_pb2.ImportLedgerRequest(data=data[10:]),
        ]
        return gateway.gateway.ImportLedger(iter(pieces), metadata=office, timeout=60)

    first = send(ledger, "r-import")
    assert dict(first.created) == {"unit": 1}
    assert send(ledger, "r-import") == first  # the first answer, not "unchanged"
    assert dict(send(ledger, "r-import-2").unchanged) == {"unit": 1}  # a new id imports again
    code, details = code_of(lambda: send(ledger.replace(b"jyj", b"wjj"), "r-import"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details
