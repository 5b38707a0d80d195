"""What the office does with accounts, and how a person logs in."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.audit import AuditTrail
from services.common.auth import SYSTEM, Identity
from services.common.db import Database
from services.common.errors import Unauthenticated
from services.common.tokens import KeyRing, issue_user_token
from services.gateway.accounts.domain import (
    Account,
    check_password,
    check_username,
    new_account,
)
from services.gateway.accounts.storage import AccountRepository
from services.gateway.accounts.storage import audit as audit_rows
from services.gateway.accounts.strikes import StoredThrottle

log = logging.getLogger("kaohe.accounts")
# Same message whatever failed, so a guesser cannot tell a wrong username from a wrong password.
REFUSED = "wrong username or password, or the account is disabled"
LOGIN_METHOD = "/kaohe.gateway.v1.AccountsService/Login"
Issue = Callable[[Identity], str]
Audit = Callable[[Identity, str, str, str], None]


def jwt_issuer(ring: KeyRing) -> Issue:
    """Login tokens as people's JWTs (tokens.issue_user_token), signed with the ring's current key."""

    def issue(identity: Identity) -> str:
        return issue_user_token(identity, ring=ring)

    return issue


class Accounts:
    """Accounts over the gateway's database: argon2id hashes, a login throttle, an audit of failures."""

    def __init__(
        self, db: Database, *, issue: Issue, audit: Audit, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.issue = issue
        self.audit = audit
        self.trail = AuditTrail(db, audit_rows)
        self.clock = clock
        self.hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
        # In the database, not in memory: several gateway processes (KAOHE_GATEWAY_PROCESSES) share it.
        self.throttle = StoredThrottle(db)
        # Verifying against this when the username is unknown takes as long as a real check.
        self._decoy = self.hasher.hash(secrets.token_hex(16))

    def add(
        self, *, username: str, role: str, unit: str, name: str, password: str, actor: Identity = SYSTEM
    ) -> Account:
        check_password(password)
        account = new_account(
            username=username,
            role=role,
            unit=unit,
            name=name,
            password_hash=self.hasher.hash(password),
            now=int(self.clock()),
        )
        with self.db.write() as conn:
            AccountRepository(conn).add(account)
            self.trail.changed(conn, actor=actor, method="AddAccount", target=f"account={username}")
        return account

    def list(self) -> list[Account]:
        with self.db.read() as conn:
            return AccountRepository(conn).list()

    def disable(self, username: str, *, actor: Identity = SYSTEM) -> Account:
        with self.db.write() as conn:
            repo = AccountRepository(conn)
            account = dataclasses.replace(repo.get(username), disabled=True)
            repo.save(account)
            self.trail.changed(conn, actor=actor, method="DisableAccount", target=f"account={username}")
        return account

    def set_password(self, username: str, password: str, *, actor: Identity = SYSTEM) -> Account:
        check_password(password)
        with self.db.write() as conn:
            repo = AccountRepository(conn)
            account = dataclasses.replace(repo.get(username), password_hash=self.hasher.hash(password))
            repo.save(account)
            self.trail.changed(conn, actor=actor, method="SetPassword", target=f"account={username}")
            self.throttle.succeed(f"account:{username}", conn)
        return account

    def has_office_account(self) -> bool:
        with self.db.read() as conn:
            return AccountRepository(conn).count_office() > 0

    def login(self, *, username: str, password: str, address: str) -> tuple[str, Account]:
        """A token for the account's role and unit; Unauthenticated (audited, slowed) otherwise."""
        keys = [f"account:{username}", f"address:{address}"]
        self.throttle.check(keys, now=self.clock())
        with self.db.read() as conn:
            account = AccountRepository(conn).find(username) if _plausible(username) else None
        if not self._verified(account, password) or account is None or account.disabled:
            self.throttle.fail(keys, now=self.clock())
            who = Identity(role="anonymous", subject=f"login:{username[:64]}")
            self.audit(who, LOGIN_METHOD, "denied", f"failed login for {username[:64]!r} from {address}")
            raise Unauthenticated(REFUSED)
        account = dataclasses.replace(account, last_login_at=int(self.clock()))
        with self.db.write() as conn:
            self.throttle.succeed(keys[0], conn)
            repo = AccountRepository(conn)
            if self.hasher.check_needs_rehash(account.password_hash):
                account = dataclasses.replace(account, password_hash=self.hasher.hash(password))
            repo.save(account)
        identity = Identity(role=account.role, unit=account.unit, subject=f"user:{account.username}")
        return self.issue(identity), account

    def _verified(self, account: Account | None, password: str) -> bool:
        try:
            return bool(self.hasher.verify(account.password_hash if account else self._decoy, password))
        except (VerificationError, InvalidHashError):
            return False


def _plausible(username: str) -> bool:
    try:
        check_username(username)
    except Exception:
        return False
    return True


def ensure_first_office(db: Database, *, now: int | None = None) -> str | None:
    """Creates the `admin` office account when there is no office account; its one-time password."""
    with db.read() as conn:
        if AccountRepository(conn).count_office() > 0:
            return None
    password = secrets.token_urlsafe(12)
    account = new_account(
        username="admin",
        role="office",
        unit="",
        name="考核办管理员",
        password_hash=PasswordHasher().hash(password),
        now=int(time.time() if now is None else now),
    )
    with db.write() as conn:
        AccountRepository(conn).add(account)
    return password
