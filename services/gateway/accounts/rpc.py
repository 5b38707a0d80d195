"""AccountsService servicer: the office manages accounts; Login is open to anyone."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import cast

import grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from services.common.auth import INTERNAL_METADATA, Identity
from services.common.errors import DomainError, PermissionDenied
from services.common.internal import CONSOLE_SUBJECT, request_bytes
from services.common.protoenum import enum_code
from services.common.rpc import current_identity
from services.common.tokens import KeyRing, verify_internal
from services.common.vocabulary import ROLES, label_of
from services.common.wiretime import instant
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


def role_number(role: str) -> accounts_pb2.Role:
    """The Role of a role's code ("office" → ROLE_OFFICE); ROLE_UNSPECIFIED for one no person holds."""
    value = accounts_pb2.Role.DESCRIPTOR.values_by_name.get(f"ROLE_{role.upper()}")
    return cast(accounts_pb2.Role, value.number if value is not None else 0)


def role_code(role: accounts_pb2.Role) -> str:
    """The code of a Role ("" for none), as accounts store it."""
    return enum_code(accounts_pb2.Role.DESCRIPTOR, role)


def account_message(account: Account) -> accounts_pb2.Account:
    """An account without its hash."""
    return accounts_pb2.Account(
        username=account.username,
        role=role_number(account.role),
        unit=account.unit,
        name=account.name,
        disabled=account.disabled,
        created_at=instant(account.created_at or None),
        last_login_at=instant(account.last_login_at or None),
        must_change_password=account.must_change_password,
    )


def _expiry(token: str) -> int | None:
    """The exp claim of a token the gateway has just issued (a JWT); None when it carries none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


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

    def _address(self, request: accounts_pb2.LoginRequest, context: grpc.ServicerContext) -> str:
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
            detail = f"{label_of(ROLES, identity.role)}角色不能调用 {method}"
            self.audit(identity, ACCOUNTS + method, "denied", detail)
            raise PermissionDenied(detail)
        return identity

    def Login(
        self, request: accounts_pb2.LoginRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.LoginResponse:
        token, account = self.accounts.login(
            username=request.username, password=request.password, address=self._address(request, context)
        )
        return accounts_pb2.LoginResponse(
            token=token,
            account=account_message(account),
            expires_at=instant(_expiry(token)),
            must_change_password=account.must_change_password,
        )

    def ChangePassword(
        self, request: accounts_pb2.ChangePasswordRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.ChangePasswordResponse:
        account = self.accounts.change_password(
            current_identity(),
            current_password=request.current_password,
            new_password=request.new_password,
            address=_peer_host(context),
            request_id=request.request_id,
        )
        return accounts_pb2.ChangePasswordResponse(account=account_message(account))

    def EnableAccount(
        self, request: accounts_pb2.EnableAccountRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.EnableAccountResponse:
        identity = self._allow("EnableAccount")
        account = self.accounts.enable(request.username, actor=identity, request_id=request.request_id)
        self.audit(identity, ACCOUNTS + "EnableAccount", "changed", account.username)
        return accounts_pb2.EnableAccountResponse(account=account_message(account))

    def AddAccount(
        self, request: accounts_pb2.AddAccountRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.AddAccountResponse:
        identity = self._allow("AddAccount")
        account = self.accounts.add(
            username=request.username,
            role=role_code(request.role),
            unit=request.unit,
            name=request.name,
            password=request.password,
            actor=identity,
            temporary=request.temporary,
            request_id=request.request_id,
        )
        self.audit(identity, ACCOUNTS + "AddAccount", "changed", f"{account.username} {account.role}")
        return accounts_pb2.AddAccountResponse(account=account_message(account))

    def ListAccounts(
        self, request: accounts_pb2.ListAccountsRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.ListAccountsResponse:
        self._allow("ListAccounts")
        return accounts_pb2.ListAccountsResponse(accounts=[account_message(a) for a in self.accounts.list()])

    def DisableAccount(
        self, request: accounts_pb2.DisableAccountRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.DisableAccountResponse:
        identity = self._allow("DisableAccount")
        account = self.accounts.disable(request.username, actor=identity, request_id=request.request_id)
        self.audit(identity, ACCOUNTS + "DisableAccount", "changed", account.username)
        return accounts_pb2.DisableAccountResponse(account=account_message(account))

    def SetPassword(
        self, request: accounts_pb2.SetPasswordRequest, context: grpc.ServicerContext
    ) -> accounts_pb2.SetPasswordResponse:
        identity = self._allow("SetPassword")
        account = self.accounts.set_password(
            request.username, request.password, actor=identity, request_id=request.request_id
        )
        self.audit(identity, ACCOUNTS + "SetPassword", "changed", account.username)
        return accounts_pb2.SetPasswordResponse(account=account_message(account))
