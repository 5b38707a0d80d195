"""Sessions of the console: a random id in the cookie, the gateway token and a CSRF token kept here."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "kaohe_session"
# A session ends after this long idle, and in any case when its gateway token would.
IDLE_SECONDS = 30 * 60


@dataclass
class Session:
    """One logged-in person: who, the token the gateway gave them, the form token, the expiry."""

    id: str
    token: str
    role: str
    unit: str
    username: str
    name: str
    csrf: str
    expires_at: float
    ends_at: float
    # Signed in with a one-time password: every page leads to /account/password until it is changed.
    must_change: bool = False

    def csrf_ok(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.csrf)


class Sessions:
    """Sessions in memory (one console process); expired ones are dropped when met."""

    def __init__(self, *, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.items: dict[str, Session] = {}

    def start(
        self,
        *,
        token: str,
        role: str,
        unit: str,
        username: str,
        name: str,
        token_expiry: float,
        must_change: bool = False,
    ) -> Session:
        now = self.clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            token=token,
            role=role,
            unit=unit,
            username=username,
            name=name,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + self.idle_seconds,
            ends_at=token_expiry or now + self.idle_seconds,
            must_change=must_change,
        )
        with self.lock:
            self.items = {k: v for k, v in self.items.items() if not self._over(v, now)}
            self.items[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session of that id, its idle expiry pushed back; None when unknown or over."""
        now = self.clock()
        with self.lock:
            session = self.items.get(session_id)
            if session is None:
                return None
            if self._over(session, now):
                del self.items[session_id]
                return None
            session.expires_at = now + self.idle_seconds
            return session

    def end(self, session_id: str) -> None:
        with self.lock:
            self.items.pop(session_id, None)

    def end_user(self, username: str) -> None:
        """Ends every session of username (its password changed, or the account was disabled)."""
        with self.lock:
            self.items = {k: v for k, v in self.items.items() if v.username != username}

    @staticmethod
    def _over(session: Session, now: float) -> bool:
        return now >= session.expires_at or now >= session.ends_at
