"""Accounts and the login throttle: pure rules, no storage, no clock of their own."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.auth import make_user_identity
from services.common.errors import InvalidArgument, Unauthenticated
from services.common.ids import ID_RULE, is_safe_id

MIN_PASSWORD = 8
MAX_PASSWORD = 256
# Failed logins allowed before the throttle starts, then the lock doubles per failure up to the cap.
FREE_FAILURES = 3
# An address is a whole office's (its clerks share the office network's one exit address, and log in at
# the same minute): it gets more before it is slowed, every account keeps its own FREE_FAILURES.
FREE_ADDRESS_FAILURES = 20
ADDRESS_KEY = "address:"
FIRST_LOCK_SECONDS = 2
MAX_LOCK_SECONDS = 15 * 60
# A key's failures are forgotten after this long without a new one.
FORGET_SECONDS = 3600


@dataclass(frozen=True)
class Account:
    """A person's login: the role and unit their token carries, and the password's hash."""

    username: str
    role: str
    unit: str
    name: str
    password_hash: str
    disabled: bool = False
    created_at: int = 0
    last_login_at: int = 0
    # A one-time password (kaohe serve's first, accounts add --temporary): changed before anything else.
    must_change_password: bool = False
    # Bumped when the password changes or the account is disabled: tokens of an older one are refused.
    token_generation: int = 0


def new_account(
    *,
    username: str,
    role: str,
    unit: str,
    name: str,
    password_hash: str,
    now: int,
    temporary: bool = False,
) -> Account:
    """An account whose username, role and unit are checked (a department needs its unit)."""
    check_username(username)
    identity = make_user_identity(role=role, unit=unit or None)
    return Account(
        username=username,
        role=identity.role,
        unit=identity.unit,
        name=name.strip(),
        password_hash=password_hash,
        created_at=now,
        must_change_password=temporary,
    )


def check_username(username: str) -> None:
    """An id of the safe alphabet (services/common/ids.py): at most 64 characters, no NUL, no path."""
    if not is_safe_id(username):
        raise InvalidArgument("username", "用户名" + ID_RULE.removeprefix("编号"))


def check_password(password: str, field: str = "password") -> None:
    """Long enough to resist guessing, short enough not to be a denial of service for the hash."""
    if len(password) < MIN_PASSWORD:
        raise InvalidArgument(field, f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > MAX_PASSWORD:
        raise InvalidArgument(field, f"密码至多 {MAX_PASSWORD} 个字符")
    if "\x00" in password:
        raise InvalidArgument(field, "密码不能含控制字符 U+0000")


@dataclass
class Strikes:
    """One key's recent failures and the time before which it is refused."""

    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


@dataclass
class Throttle:
    """Slows guessing: per account and per address, exponential lock after a few failures."""

    strikes: dict[str, Strikes] = field(default_factory=dict)

    def check(self, keys: list[str], *, now: float) -> None:
        """Unauthenticated naming the wait when any key is locked."""
        wait = max((self.strikes[k].locked_until - now for k in keys if k in self.strikes), default=0.0)
        if wait > 0:
            raise Unauthenticated(f"登录失败次数过多，请 {int(wait) + 1} 秒后再试")

    def attempt(self, keys: list[str], *, now: float) -> None:
        """Refused while any key is locked; else the attempt counts as a failure before the password is
        verified (refunded if it was right), so a parallel burst cannot verify past the lock."""
        self.check(keys, now=now)
        self.fail(keys, now=now)

    def refund(self, key: str) -> None:
        """An attempt that turned out right no longer counts against key (an address's, say)."""
        entry = self.strikes.get(key)
        if entry is None:
            return
        entry.failures = max(entry.failures - 1, 0)
        if entry.failures <= free_failures(key):
            entry.locked_until = 0.0

    def fail(self, keys: list[str], *, now: float) -> None:
        """Counts a failure against every key, locking those past their free attempts."""
        for key in keys:
            entry = self.strikes.get(key)
            if entry is None or now - entry.last_failure > FORGET_SECONDS:
                entry = self.strikes[key] = Strikes()
            entry.failures += 1
            entry.last_failure = now
            over = entry.failures - free_failures(key)
            if over > 0:
                entry.locked_until = now + min(FIRST_LOCK_SECONDS * 2 ** (over - 1), MAX_LOCK_SECONDS)
        self._forget(now)

    def succeed(self, account_key: str) -> None:
        """A good password clears its account's strikes (an address keeps its own)."""
        self.strikes.pop(account_key, None)

    def _forget(self, now: float) -> None:
        stale = [k for k, v in self.strikes.items() if now - v.last_failure > FORGET_SECONDS]
        for key in stale:
            del self.strikes[key]


def free_failures(key: str) -> int:
    """The failures a throttle key is allowed before it is locked: an account's few, an address's more."""
    return FREE_ADDRESS_FAILURES if key.startswith(ADDRESS_KEY) else FREE_FAILURES
