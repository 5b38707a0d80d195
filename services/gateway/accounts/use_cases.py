"""What the office does with accounts, and how a person logs in."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from services.common.audit import AuditTrail
from services.common.auth import SYSTEM, Identity
from services.common.db import Database
from services.common.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from services.common.idempotency import answered, idempotent
from services.common.tokens import KeyRing, issue_user_token
from services.gateway.accounts.domain import (
    MAX_PASSWORD,
    Account,
    check_password,
    check_username,
    new_account,
)
from services.gateway.accounts.storage import AccountRepository, requests
from services.gateway.accounts.storage import audit as audit_rows
from services.gateway.accounts.strikes import StoredThrottle
from services.gateway.accounts.units import Units

log = logging.getLogger("kaohe.accounts")
# Same message whatever failed, so a guesser cannot tell a wrong username from a wrong password.
REFUSED = "用户名或密码错误，或账号已停用"
SESSION_ENDED = "登录已失效（密码已更改或账号已停用）：请重新登录"
MUST_CHANGE = "这是一次性密码：请先修改密码（kaohe passwd，或控制台的“修改密码”）再做别的操作"
LAST_OFFICE = "这是最后一个启用的考核办账号：停用它就没有人能管理账号了，请先新增或启用另一个考核办账号"
LOGIN_METHOD = "/kaohe.gateway.v1.AccountsService/Login"
CHANGE_PASSWORD_METHOD = "/kaohe.gateway.v1.AccountsService/ChangePassword"
# What a token of an account whose password is one-time may still do.
BEFORE_CHANGE = frozenset({CHANGE_PASSWORD_METHOD, "/kaohe.gateway.v1.GatewayService/WhoAmI"})
USER_PREFIX = "user:"
Issue = Callable[[Identity, int], str]
Audit = Callable[[Identity, str, str, str], None]


def jwt_issuer(ring: KeyRing) -> Issue:
    """Login tokens as people's JWTs (tokens.issue_user_token), signed with the ring's current key."""

    def issue(identity: Identity, generation: int) -> str:
        return issue_user_token(identity, ring=ring, generation=generation)

    return issue


class Accounts:
    """Accounts over the gateway's database: argon2id hashes, a login throttle, an audit of failures."""

    def __init__(
        self,
        db: Database,
        *,
        issue: Issue,
        audit: Audit,
        clock: Callable[[], float] = time.time,
        units: Units | None = None,
    ) -> None:
        self.db = db
        # The tasks service's units, when wired (the gateway): a department account's unit must be one.
        self.units = units
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
        self,
        *,
        username: str,
        role: str,
        unit: str,
        name: str,
        password: str,
        actor: Identity = SYSTEM,
        temporary: bool = False,
        request_id: str = "",
    ) -> Account:
        check_password(password)
        if role == "department" and unit and self.units is not None:
            unit = self._existing_unit(unit, actor)
        account = new_account(
            username=username,
            role=role,
            unit=unit,
            name=name,
            password_hash=self.hasher.hash(password),
            now=int(self.clock()),
            temporary=temporary,
        )

        def work(conn: Connection) -> Account:
            AccountRepository(conn).add(account)
            self.trail.changed(conn, actor=actor, method="AddAccount", target=f"account={username}")
            return account

        # The password is no part of the fingerprint: a hash of it would be kept beside the answer.
        request = {"username": username, "role": role, "unit": unit, "name": name, "temporary": temporary}
        return _once(self.db, actor, "AddAccount", request_id, request, work)

    def list(self) -> list[Account]:
        with self.db.read() as conn:
            return AccountRepository(conn).list()

    def _existing_unit(self, unit: str, actor: Identity) -> str:
        """The code of the unit given by its code or its Chinese name, else InvalidArgument."""
        assert self.units is not None
        known = self.units(actor)
        for code, label in known:
            if unit in (code, label):
                return code
        raise InvalidArgument("unit", f"单位“{unit}”不存在：请写已导入的单位代码或中文名称")

    def disable(self, username: str, *, actor: Identity = SYSTEM, request_id: str = "") -> Account:
        """Disabled, its tokens ended; never the last enabled office account."""
        check_username(username)

        def work(conn: Connection) -> Account:
            repo = AccountRepository(conn)
            current = repo.get(username)
            last = repo.enabled_office(for_update=True) == (username,)
            if current.role == "office" and not current.disabled and last:
                raise FailedPrecondition(LAST_OFFICE)
            account = dataclasses.replace(
                current, disabled=True, token_generation=current.token_generation + 1
            )
            repo.save(account)
            self.trail.changed(conn, actor=actor, method="DisableAccount", target=f"account={username}")
            return account

        return _once(self.db, actor, "DisableAccount", request_id, {"username": username}, work)

    def enable(self, username: str, *, actor: Identity = SYSTEM, request_id: str = "") -> Account:
        """A disabled account usable again (with a fresh login: its old tokens stay ended)."""
        check_username(username)

        def work(conn: Connection) -> Account:
            repo = AccountRepository(conn)
            account = dataclasses.replace(repo.get(username), disabled=False)
            repo.save(account)
            self.trail.changed(conn, actor=actor, method="EnableAccount", target=f"account={username}")
            return account

        return _once(self.db, actor, "EnableAccount", request_id, {"username": username}, work)

    def set_password(
        self,
        username: str,
        password: str,
        *,
        actor: Identity = SYSTEM,
        temporary: bool = False,
        request_id: str = "",
    ) -> Account:
        """The office sets someone's password; their tokens end (temporary: they must change it)."""
        check_username(username)
        check_password(password)

        def work(conn: Connection) -> Account:
            repo = AccountRepository(conn)
            current = repo.get(username)
            account = dataclasses.replace(
                current,
                password_hash=self.hasher.hash(password),
                must_change_password=temporary,
                token_generation=current.token_generation + 1,
            )
            repo.save(account)
            self.trail.changed(conn, actor=actor, method="SetPassword", target=f"account={username}")
            self.throttle.succeed(f"account:{username}", conn)
            return account

        request = {"username": username, "temporary": temporary}
        return _once(self.db, actor, "SetPassword", request_id, request, work)

    def change_password(
        self,
        identity: Identity,
        *,
        current_password: str,
        new_password: str,
        address: str,
        request_id: str = "",
    ) -> Account:
        """A person's own password, the current one verified (throttled as a login); every token of the
        account ends, the caller's too: the new password signs in afresh. A retry of a change done (its
        request id) gets the first answer, the current password being the new one by then."""
        username = _own_username(identity)
        done = _answered(self.db, identity, "ChangePassword", request_id, {"username": username})
        if done is not None:
            return done
        check_password(new_password, "new_password")
        if new_password == current_password:
            raise InvalidArgument("new_password", "新密码不能与旧密码相同")
        keys = [f"account:{username}", f"address:{address}"]
        self.throttle.attempt(keys, now=self.clock())
        with self.db.read() as conn:
            account = AccountRepository(conn).find(username)
        if not self._verified(account, current_password) or account is None or account.disabled:
            self.audit(identity, CHANGE_PASSWORD_METHOD, "denied", f"wrong current password for {username!r}")
            raise Unauthenticated("当前密码不正确")
        new_hash = self.hasher.hash(new_password)

        def work(conn: Connection) -> Account:
            repo = AccountRepository(conn)
            current = repo.get(username)
            account = dataclasses.replace(
                current,
                password_hash=new_hash,
                must_change_password=False,
                token_generation=current.token_generation + 1,
            )
            repo.save(account)
            self.throttle.succeed(keys[0], conn)
            self.throttle.refund(conn, keys[1])
            self.trail.changed(conn, actor=identity, method="ChangePassword", target=f"account={username}")
            return account

        return _once(self.db, identity, "ChangePassword", request_id, {"username": username}, work)

    def check_session(self, identity: Identity, method: str) -> None:
        """A token an account's login gave holds while the account is enabled and its password unchanged;
        while the password is one-time it serves only the change of it."""
        if not identity.subject.startswith(USER_PREFIX):
            return
        username = identity.subject.removeprefix(USER_PREFIX)
        with self.db.read() as conn:
            account = AccountRepository(conn).find(username)
        if account is None or account.disabled or account.token_generation != identity.generation:
            raise Unauthenticated(SESSION_ENDED)
        if account.must_change_password and method not in BEFORE_CHANGE:
            raise FailedPrecondition(MUST_CHANGE)

    def _token(self, account: Account) -> str:
        identity = Identity(role=account.role, unit=account.unit, subject=f"{USER_PREFIX}{account.username}")
        return self.issue(identity, account.token_generation)

    def has_office_account(self) -> bool:
        with self.db.read() as conn:
            return AccountRepository(conn).count_office() > 0

    def login(self, *, username: str, password: str, address: str) -> tuple[str, Account]:
        """A token for the account's role and unit; Unauthenticated (audited, slowed) otherwise.

        The username is checked before anything is stored; the attempt is counted before the password
        is verified, so that parallel guesses cannot pass the throttle between its check and its count.
        """
        check_username(username)
        if len(password) > MAX_PASSWORD or "\x00" in password:
            raise Unauthenticated(REFUSED)
        keys = [f"account:{username}", f"address:{address[:200]}"]
        self.throttle.attempt(keys, now=self.clock())
        with self.db.read() as conn:
            account = AccountRepository(conn).find(username)
        if not self._verified(account, password) or account is None or account.disabled:
            who = Identity(role="anonymous", subject=f"login:{username}")
            self.audit(who, LOGIN_METHOD, "denied", f"failed login for {username!r} from {address[:200]}")
            raise Unauthenticated(REFUSED)
        with self.db.write() as conn:
            self.throttle.succeed(keys[0], conn)
            self.throttle.refund(conn, keys[1])
            repo = AccountRepository(conn)
            account = dataclasses.replace(repo.get(username), last_login_at=int(self.clock()))
            if self.hasher.check_needs_rehash(account.password_hash):
                account = dataclasses.replace(account, password_hash=self.hasher.hash(password))
            repo.save(account)
        return self._token(account), account

    def _verified(self, account: Account | None, password: str) -> bool:
        try:
            return bool(self.hasher.verify(account.password_hash if account else self._decoy, password))
        except (VerificationError, InvalidHashError):
            return False


def _once(
    db: Database,
    actor: Identity,
    method: str,
    request_id: str,
    request: Mapping[str, Any],
    work: Callable[[Connection], Account],
) -> Account:
    """work in one transaction, once per (actor, method, request id): a retry gets the first answer."""
    return idempotent(
        db,
        requests,
        caller=actor,
        method=method,
        request_id=request_id,
        request=request,
        work=work,
        encode=_encoded,
        decode=_decoded,
    )


def _answered(
    db: Database, actor: Identity, method: str, request_id: str, request: Mapping[str, Any]
) -> Account | None:
    """The first answer of a request done already under its id; None when it was not."""
    stored = answered(db, requests, caller=actor, method=method, request_id=request_id, request=request)
    return None if stored is None else _decoded(stored)


def _encoded(account: Account) -> bytes:
    """An account as a stored answer: without its password's hash (an answer shows none)."""
    return json.dumps({**dataclasses.asdict(account), "password_hash": ""}, ensure_ascii=False).encode()


def _decoded(data: bytes) -> Account:
    return Account(**json.loads(data))


def _own_username(identity: Identity) -> str:
    if not identity.subject.startswith(USER_PREFIX):
        raise FailedPrecondition("只有用账号登录得到的令牌才能修改自己的密码")
    return identity.subject.removeprefix(USER_PREFIX)


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
        temporary=True,
    )
    with db.write() as conn:
        AccountRepository(conn).add(account)
    return password
