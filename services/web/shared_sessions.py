"""The console's sessions in a SQLite file that all its processes share (KAOHE_WEB_PROCESSES > 1)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from services.web.oidc import Pending
from services.web.sessions import IDLE_SECONDS, Session, Sessions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, token TEXT NOT NULL, role TEXT NOT NULL, unit TEXT NOT NULL,
    username TEXT NOT NULL, name TEXT NOT NULL, csrf TEXT NOT NULL,
    expires_at REAL NOT NULL, ends_at REAL NOT NULL, must_change INTEGER NOT NULL DEFAULT 0
)
"""
# Sign-ins to the county's identity provider under way (统一身份认证): the redirect back may reach another
# process than the one that sent the browser off.
_PENDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS oidc_pending (
    state TEXT PRIMARY KEY, verifier TEXT NOT NULL, nonce TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    started REAL NOT NULL
)
"""
_COLUMNS = "id, token, role, unit, username, name, csrf, expires_at, ends_at, must_change"
# The idle expiry is written back only when it moved by more than this: not one write per page.
_SLACK_SECONDS = 30.0


class SharedSessions(Sessions):
    """Sessions as Sessions keeps them, but in path: a browser's next connection may reach another process.

    The file lives in the supervisor's private folder (0700) and goes with it: sessions end when the
    console stops, as they do with one process.
    """

    def __init__(
        self, path: Path, *, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(idle_seconds=idle_seconds, clock=clock)
        self.conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        with self.lock:
            self.conn.execute("PRAGMA journal_mode=WAL")
            # The file goes when the console stops: nothing in it needs to survive a power cut.
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute(_SCHEMA)
            self.conn.execute(_PENDING_SCHEMA)

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
        row = (
            session.id,
            token,
            role,
            unit,
            username,
            name,
            session.csrf,
            session.expires_at,
            session.ends_at,
            int(must_change),
        )
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM sessions WHERE expires_at <= ? OR ends_at <= ?", (now, now))
            self.conn.execute(f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
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
            if self._over(session, now):
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
        with self.lock:
            self.conn.execute("DELETE FROM sessions WHERE username = ?", (username,))

    def oidc_pending(self) -> SharedPending:
        """The store of sign-ins under way, in the same file."""
        return SharedPending(self)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class SharedPending:
    """OIDC sign-ins under way, kept beside the sessions so that every console process can finish one."""

    def __init__(self, sessions: SharedSessions) -> None:
        self.sessions = sessions

    def put(self, state: str, pending: Pending, *, older_than: float) -> None:
        with self.sessions.lock:
            conn = self.sessions.conn
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM oidc_pending WHERE started < ?", (older_than,))
            conn.execute(
                "INSERT INTO oidc_pending (state, verifier, nonce, redirect_uri, started) "
                "VALUES (?, ?, ?, ?, ?)",
                (state, pending.verifier, pending.nonce, pending.redirect_uri, pending.started),
            )
            conn.execute("COMMIT")

    def pop(self, state: str) -> Pending | None:
        with self.sessions.lock:
            conn = self.sessions.conn
            conn.execute("BEGIN IMMEDIATE")
            found = conn.execute(
                "SELECT verifier, nonce, redirect_uri, started FROM oidc_pending WHERE state = ?", (state,)
            ).fetchone()
            conn.execute("DELETE FROM oidc_pending WHERE state = ?", (state,))
            conn.execute("COMMIT")
        return Pending(*found) if found is not None else None
