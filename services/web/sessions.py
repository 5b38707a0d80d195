"""The console's sessions and the sign-ins under way (统一身份认证), in one small SQLite store.

A random id in the cookie names a row holding the person's gateway token and their form (CSRF) token. With one
console process the store is in memory; several processes (KAOHE_WEB_PROCESSES > 1) share a file in the
supervisor's private folder (0700), since a browser's next connection may reach another process. Either way
sessions end when the console stops, when idle, with the gateway token, on logout, and when the account's
password changes or the account is disabled (end_user).
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COOKIE = "kaohe_session"
# A session ends after this long idle, and in any case when its gateway token would.
IDLE_SECONDS = 30 * 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, token TEXT NOT NULL, role TEXT NOT NULL, unit TEXT NOT NULL,
    username TEXT NOT NULL, name TEXT NOT NULL, csrf TEXT NOT NULL,
    expires_at REAL NOT NULL, ends_at REAL NOT NULL, must_change INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oidc_pending (
    state TEXT PRIMARY KEY, verifier TEXT NOT NULL, nonce TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    started REAL NOT NULL
);
"""
_COLUMNS = "id, token, role, unit, username, name, csrf, expires_at, ends_at, must_change"


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


@dataclass(frozen=True)
class Pending:
    """A sign-in on its way to the identity provider: what its return must match."""

    verifier: str
    nonce: str
    redirect_uri: str
    started: float


class Sessions:
    """Sessions in memory (path None) or in a file every console process shares."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(
            ":memory:" if path is None else path, timeout=30, check_same_thread=False, isolation_level=None
        )
        with self.lock:
            if path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
            # Nothing here needs to survive a power cut: the sessions end with the console anyway.
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.executescript(_SCHEMA)

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
        row = (session.id, token, role, unit, username, name, session.csrf, session.expires_at)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM sessions WHERE expires_at <= ? OR ends_at <= ?", (now, now))
            self.conn.execute(
                f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, session.ends_at, int(must_change)),
            )
            self.conn.execute("COMMIT")
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session of that id, its idle expiry pushed back; None when unknown or over."""
        now = self.clock()
        with self.lock:
            found = self.conn.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if found is None:
                return None
            session = Session(*found)
            session.must_change = bool(session.must_change)  # SQLite keeps it as 0 or 1
            if now >= session.expires_at or now >= session.ends_at:
                self.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                return None
            session.expires_at = now + self.idle_seconds
            self.conn.execute(
                "UPDATE sessions SET expires_at = ? WHERE id = ?", (session.expires_at, session_id)
            )
        return session

    def end(self, session_id: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def end_user(self, username: str) -> None:
        """Ends every session of username (its password changed, or the account was disabled)."""
        with self.lock:
            self.conn.execute("DELETE FROM sessions WHERE username = ?", (username,))

    # Sign-ins under way: the provider's redirect back may reach another console process -----------------

    def put_pending(self, state: str, pending: Pending, *, older_than: float) -> None:
        """Keeps pending under state, dropping every sign-in started before older_than."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM oidc_pending WHERE started < ?", (older_than,))
            self.conn.execute(
                "INSERT INTO oidc_pending (state, verifier, nonce, redirect_uri, started)"
                " VALUES (?, ?, ?, ?, ?)",
                (state, pending.verifier, pending.nonce, pending.redirect_uri, pending.started),
            )
            self.conn.execute("COMMIT")

    def pop_pending(self, state: str) -> Pending | None:
        """The sign-in under state, taken out (a state is good once); None when there is none."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            found = self.conn.execute(
                "SELECT verifier, nonce, redirect_uri, started FROM oidc_pending WHERE state = ?", (state,)
            ).fetchone()
            self.conn.execute("DELETE FROM oidc_pending WHERE state = ?", (state,))
            self.conn.execute("COMMIT")
        return Pending(*found) if found is not None else None

    def close(self) -> None:
        with self.lock:
            self.conn.close()
