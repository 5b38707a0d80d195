"""AccountsService servicer: the office manages accounts; Login is open to anyone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from services.common.auth import INTERNAL_METADATA, Identity
from services.common.errors import DomainError, PermissionDenied
from services.common.internal import CONSOLE_SUBJECT, request_bytes
from services.common.rpc import current_identity
from services.common.tokens import KeyRing, verify_internal
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


def checked_sessions(authenticate: Authenticate, accounts: Accounts) -> Authenticate:
    """The authenticator, and then the account behind a login's token: enabled, password unchanged."""

    def check(metadata: dict[str, str], method: str) -> Identity:
        identity = authenticate(metadata, method)
        accounts.check_session(identity, method)
        return identity

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
        must_change_password=account.must_change_password,
    )


def _peer_host(context: grpc.ServicerContext) -> str:
    """ipv4:127.0.0.1:5000 → 127.0.0.1 (the port changes per connection, the host does not)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    return rest.rsplit(":", 1)[0] if kind in ("ipv4", "ipv6") else peer


class AccountsServicer(accounts_pb2_grpc.AccountsServiceServicer):
    """Accounts through the policy table; every change audited."""

    def __init__(self, accounts: Accounts, audit: Audit, *, internal: KeyRing | None = None) -> None:
        self.accounts = accounts
        self.audit = audit
        # The internal ring: a browser's address is taken from the web console only when it proves itself.
        self.internal = internal

    def _address(self, request: Any, context: grpc.ServicerContext) -> str:
        """The throttle's address key: the real peer; with the browser's address under it only when the
        caller is the web console with a credential signed for this very request."""
        peer = _peer_host(context)
        if not request.client_address or self.internal is None:
            return peer
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        token = metadata.get(INTERNAL_METADATA, "")
        try:
            who = verify_internal(
                token,
                method=LOGIN,
                ring=self.internal,
                request_bytes=request_bytes(request),
                require_request_hash=True,
            )
        except DomainError:
            return peer
        return f"{peer}/{request.client_address[:64]}" if who.subject == CONSOLE_SUBJECT else peer

    def _allow(self, method: str) -> Identity:
        identity = current_identity()
        if identity.role not in MANAGERS:
            detail = f"role {identity.role} may not call {method}"
            self.audit(identity, ACCOUNTS + method, "denied", detail)
            raise PermissionDenied(detail)
        return identity

    def Login(self, request: Any, context: grpc.ServicerContext) -> Any:
        token, account = self.accounts.login(
            username=request.username, password=request.password, address=self._address(request, context)
        )
        return accounts_pb2.LoginResponse(
            token=token,
            account=account_message(account),
            must_change_password=account.must_change_password,
        )

    def ChangePassword(self, request: Any, context: grpc.ServicerContext) -> Any:
        account = self.accounts.change_password(
            current_identity(),
            current_password=request.current_password,
            new_password=request.new_password,
            address=_peer_host(context),
        )
        return account_message(account)

    def EnableAccount(self, request: Any, context: grpc.ServicerContext) -> Any:
        identity = self._allow("EnableAccount")
        account = self.accounts.enable(request.username, actor=identity)
        self.audit(identity, ACCOUNTS + "EnableAccount", "changed", account.username)
        return account_message(account)

    def AddAccount(self, request: Any, context: grpc.ServicerContext) -> Any:
        identity = self._allow("AddAccount")
        account = self.accounts.add(
            username=request.username,
            role=request.role,
            unit=request.unit,
            name=request.name,
            password=request.password,
            actor=identity,
            temporary=request.temporary,
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
