"""A database's change sequence as any process of the service commits it, for the streams that push it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from services.common.db import Database

log = logging.getLogger("kaohe.change_watch")
V = TypeVar("V")
# SQLite (or PostgreSQL read through a replica): how often a commit by another process is looked for.
POLL_SECONDS = 0.05
# PostgreSQL: how long a LISTEN waits for a notification before it reads the sequence anyway.
LISTEN_SECONDS = 1.0
# A stream with nothing new repeats its last version this often, so that its reader knows it is alive.
HEARTBEAT_SECONDS = 5.0
# After the database failed to answer, the watch tries again this much later.
RETRY_SECONDS = 1.0


class ChangeWatch:
    """The committed change sequence of one database, and the streams woken when it moves.

    A commit in this process wakes them at once (Database.committed); one by another process of the service
    is seen through PostgreSQL's NOTIFY, sent in the write's own transaction, or, on SQLite, by reading the
    sequence every POLL_SECONDS. The thread that looks runs only while a stream is open.
    """

    def __init__(self, db: Database, *, poll: float = POLL_SECONDS) -> None:
        self.db = db
        self.poll = poll
        # Changes seen so far: a stream waits for this count to pass the one it last read at.
        self.changes = 0
        self._cond = threading.Condition()
        self._streams = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        # Set while no stream is open (or after close): the thread's waits end at once.
        self._idle = threading.Event()
        db.committed.append(self.changed)

    def changed(self) -> None:
        """The sequence may have moved: every stream reads its version again."""
        with self._cond:
            self.changes += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Ends every stream and the thread (the service is stopping: its streams must not hold it)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        self._idle.set()
        if thread is not None:
            thread.join(timeout=LISTEN_SECONDS + 1)

    def follow(
        self,
        context: grpc.ServicerContext,
        read: Callable[[], tuple[V, float]],
        *,
        key: Callable[[V], Hashable] = lambda version: version,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> Iterator[V]:
        """read()'s versions while the caller listens: the first at once, then each whose key differs from
        the last sent one's, and a fresh read every heartbeat seconds when nothing changed. read answers
        (version, the epoch instant at which it changes without a write, or 0)."""
        ended = threading.Event()

        def end() -> None:
            ended.set()
            with self._cond:
                self._cond.notify_all()

        context.add_callback(end)
        if self._closed:
            return  # stopping: the caller dials another process, or this one once it is back
        with self._watching():
            seen = self.changes  # before the read: a commit during it wakes the next wait
            version, until = read()
            yield version
            sent = time.monotonic()
            while True:
                timeout = heartbeat - (time.monotonic() - sent)
                if until:
                    # A hundredth past the instant: the version read then is the one after it.
                    timeout = min(timeout, until - time.time() + 0.01)
                seen = self._wait(seen, ended, timeout)
                if ended.is_set() or self._closed:
                    return
                latest, until = read()
                if key(latest) != key(version) or time.monotonic() - sent >= heartbeat:
                    version = latest
                    yield version
                    sent = time.monotonic()

    def _wait(self, seen: int, ended: threading.Event, timeout: float) -> int:
        """The count of changes once it passes seen, the stream ends or timeout seconds pass."""
        with self._cond:
            self._cond.wait_for(
                lambda: self.changes != seen or ended.is_set() or self._closed, max(0.0, timeout)
            )
            return self.changes

    @contextmanager
    def _watching(self) -> Iterator[None]:
        with self._cond:
            self._streams += 1
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="change-watch", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._cond:
                self._streams -= 1
                if not self._streams:
                    self._idle.set()  # the thread stops at its next wake, unless a stream came meanwhile

    def _done(self) -> bool:
        """Whether the thread should stop (no stream, or closed); when so, it is forgotten, atomically
        with the check, so that the next stream starts another."""
        with self._cond:
            if self._streams and not self._closed:
                return False
            self._thread = None
            return True

    def _run(self) -> None:
        failing = False
        while not self._done():
            try:
                if self.db.is_sqlite or self.db.router is not None:
                    # A replica may not have replayed a notified commit yet: reading again finds it.
                    self._poll()
                else:
                    self._listen()
                failing = False
            except Exception as exc:  # the database or its driver: the loop must go on
                if not failing:
                    log.warning(
                        "change watch: database unavailable", extra={"reason": str(exc).splitlines()[0]}
                    )
                failing = True
                self.changed()  # the streams read again (and fail, or find what they missed)
                self._idle.wait(RETRY_SECONDS)

    def _poll(self) -> None:
        last = self.db.sequence(polled=True)
        # A commit between a stream's first read and this one would look like no change: read again.
        self.changed()
        while not self._idle.wait(self.poll):
            current = self.db.sequence(polled=True)
            if current != last:
                last = current
                self.changed()

    def _listen(self) -> None:
        with self.db.engine.connect() as conn:
            try:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql(f"LISTEN {self.db.channel(conn)}")
                driver = conn.connection.driver_connection
                assert driver is not None
                # Commits between the last read and the LISTEN would not be notified: read once more.
                self.changed()
                while not self._idle.is_set():
                    # Waits at most LISTEN_SECONDS, so that a stop is seen without a notification.
                    for _ in driver.notifies(timeout=LISTEN_SECONDS, stop_after=1):
                        self.changed()
            finally:
                # Not back into the pool still listening: closed instead.
                conn.invalidate()
