"""AccountsService servicer: the office manages accounts; Login is open to anyone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from services.common.auth import Identity
from services.common.errors import PermissionDenied
from services.common.rpc import current_identity
from services.gateway.accounts.domain import Account
from services.gateway.accounts.use_cases import Accounts, Audit

ACCOUNTS = "/kaohe.gateway.v1.AccountsService/"
LOGIN = ACCOUNTS + "Login"
ANONYMOUS = Identity(role="anonymous", subject="anonymous")
Authenticate = Callable[[dict[str, str], str], Identity]
# Accounts are the office's alone; Login needs no token (see open_login).
MANAGERS = frozenset({"office"})


def open_login(authenticate: Authenticate) -> Authenticate:
    """The gateway's authenticator, except for Login, which needs no token (only that one method)."""

    def check(metadata: dict[str, str], method: str) -> Identity:
        return ANONYMOUS if method == LOGIN else authenticate(metadata, method)

    return check


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else ""


def account_message(account: Account) -> accounts_pb2.Account:
    """An account without its hash."""
    return accounts_pb2.Account(
        username=account.username,
        role=account.role,
        unit=account.unit,
        name=account.name,
        disabled=account.disabled,
        created_at=_when(account.created_at),
        last_login_at=_when(account.last_login_at),
    )


def _peer_host(context: grpc.ServicerContext) -> str:
    """ipv4:127.0.0.1:5000 → 127.0.0.1 (the port changes per connection, the host does not)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    return rest.rsplit(":", 1)[0] if kind in ("ipv4", "ipv6") else peer


class AccountsServicer(accounts_pb2_grpc.AccountsServiceServicer):
    """Accounts through the policy table; every change audited."""

    def __init__(self, accounts: Accounts, audit: Audit) -> None:
        self.accounts = accounts
        self.audit = audit

    def _allow(self, method: str) -> Identity:
        identity = current_identity()
        if identity.role not in MANAGERS:
            detail = f"role {identity.role} may not call {method}"
            self.audit(identity, ACCOUNTS + method, "denied", detail)
            raise PermissionDenied(detail)
        return identity

    def Login(self, request: Any, context: grpc.ServicerContext) -> Any:
        # A front end speaks for its browsers: their addresses are throttled apart, under its own.
        address = _peer_host(context) + (f"/{request.client_address[:64]}" if request.client_address else "")
        token, account = self.accounts.login(
            username=request.username, password=request.password, address=address
        )
        return accounts_pb2.LoginResponse(token=token, account=account_message(account))

    def AddAccount(self, request: Any, context: grpc.ServicerContext) -> Any:
        identity = self._allow("AddAccount")
        account = self.accounts.add(
            username=request.username,
            role=request.role,
            unit=request.unit,
            name=request.name,
            password=request.password,
            actor=identity,
        )
        self.audit(identity, ACCOUNTS + "AddAccount", "changed", f"{account.username} {account.role}")
        return account_message(account)

    def ListAccounts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._allow("ListAccounts")
        return accounts_pb2.ListAccountsResponse(accounts=[account_message(a) for a in self.accounts.list()])

    def DisableAccount(self, request: Any, context: grpc.ServicerContext) -> Any:
        identity = self._allow("DisableAccount")
        account = self.accounts.disable(request.username, actor=identity)
        self.audit(identity, ACCOUNTS + "DisableAccount", "changed", account.username)
        return account_message(account)

    def SetPassword(self, request: Any, context: grpc.ServicerContext) -> Any:
        identity = self._allow("SetPassword")
        account = self.accounts.set_password(request.username, request.password, actor=identity)
        self.audit(identity, ACCOUNTS + "SetPassword", "changed", account.username)
        return account_message(account)
