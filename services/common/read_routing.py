"""Reads on a PostgreSQL streaming replica: when it is healthy, caught up enough, and has the caller's writes.

A read goes to the replica when the replica answers, lags the primary by no more than max_lag seconds, and
has replayed the caller's own last write (read-your-writes: the primary's WAL position after that write's
commit, waited for on the replica for at most wait seconds). Otherwise it goes to the primary. A caller
with no identity of its own (another service acting for nobody, a background loop) reads as fresh as the
primary at the moment it asks. After a read that fell back to the primary, the caller's floor is the
primary's position then, so that what a person sees never goes back in time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

log = logging.getLogger("kaohe.db")
# Who is calling: a key per person, None for nobody in particular (see the module's docstring).
Caller = Callable[[], Hashable | None]
# Callers whose last write position is kept; the least recently written-or-read is forgotten first.
MAX_CALLERS = 10_000
# The replica's own position: a standby's replayed WAL, or a primary's current one (a read URL that points
# at a primary is a replica that never lags).
REPLAYED = text(
    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text"
)
CURRENT = text("SELECT pg_current_wal_lsn()::text")
# Targets and reasons of the reads counted (kaohe_db_reads_total).
REASONS = ("replica", "required", "behind", "lagging", "down", "none")


def lsn(value: str | None) -> int:
    """A pg_lsn's text (16/B374D848) as a number; 0 when there is none."""
    if not value:
        return 0
    high, low = value.split("/", 1)
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class ReadLimits:
    """How stale a replica may be (seconds) and how long a caller's read waits for its own write."""

    max_lag: float = 3.0
    wait: float = 0.25


class ReplicaRouter:
    """Chooses, for each read, the replica or the primary; remembers each caller's floor."""

    def __init__(
        self, primary: Engine, replica: Engine, *, limits: ReadLimits, caller: Caller | None
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.limits = limits
        self.caller = caller or (lambda: None)
        self.recheck = min(0.25, limits.max_lag / 4)
        self._lock = threading.Lock()
        self._floors: OrderedDict[Hashable, int] = OrderedDict()
        # (monotonic instant, primary's position read right after it), oldest first.
        self._seen: deque[tuple[float, int]] = deque()
        self._checked_at = -1e9
        self._replayed = 0
        self._lag = float("inf")
        self._down_until = 0.0
        self.counts = {reason: 0 for reason in REASONS}

    # ---- bookkeeping

    def count(self, reason: str) -> None:
        with self._lock:
            self.counts[reason] += 1

    def wrote(self) -> None:
        """After a write's commit: the caller's floor becomes the primary's position now."""
        key = self.caller()
        if key is None:
            return
        try:
            with self.primary.connect() as conn:
                self._raise_floor(key, lsn(conn.execute(CURRENT).scalar_one()))
        except SQLAlchemyError as exc:
            # The write is committed and answered; only this caller's next reads may miss it for a moment.
            log.warning("primary WAL position not read after a write", extra={"reason": _first_line(exc)})

    def note_primary_read(self, conn: Connection) -> None:
        """After a read that fell back to the primary: the caller saw the primary as of now."""
        key = self.caller()
        if key is not None:
            try:
                self._raise_floor(key, lsn(conn.execute(CURRENT).scalar_one()))
            except SQLAlchemyError as exc:
                log.warning("primary WAL position not read after a read", extra={"reason": _first_line(exc)})

    def _raise_floor(self, key: Hashable, position: int) -> None:
        with self._lock:
            self._floors[key] = max(position, self._floors.get(key, 0))
            self._floors.move_to_end(key)
            while len(self._floors) > MAX_CALLERS:
                self._floors.popitem(last=False)

    def replica_failed(self, exc: BaseException) -> None:
        """The replica refused or dropped a connection: reads go to the primary for a while."""
        with self._lock:
            self._down_until = time.monotonic() + max(1.0, self.recheck)
            self._checked_at = -1e9
        log.warning("read replica unavailable, reading the primary", extra={"reason": _first_line(exc)})

    # ---- health

    def lag(self) -> float:
        """The replica's staleness in seconds as last measured (inf: unknown or unreachable)."""
        self._refresh()
        return self._lag

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck or now < self._down_until:
            return
        with self._lock:
            if now - self._checked_at < self.recheck:
                return
            self._checked_at = now
        try:
            with self.primary.connect() as conn:
                current = lsn(conn.execute(CURRENT).scalar_one())
            with self.replica.connect() as conn:
                replayed = lsn(conn.execute(REPLAYED).scalar_one())
        except SQLAlchemyError as exc:
            self._lag = float("inf")
            self.replica_failed(exc)
            return
        with self._lock:
            self._seen.append((now, current))
            while self._seen and now - self._seen[0][0] > 2 * self.limits.max_lag + 1:
                self._seen.popleft()
            # The replica holds everything committed by the last instant whose primary position it reached.
            fresh = [at for at, position in self._seen if position <= replayed]
            self._lag = now - max(fresh) if fresh else float("inf")
            self._replayed = max(self._replayed, replayed)

    # ---- choosing

    def floor(self) -> int:
        """The position the caller's read must see: its own last write's (or the primary's now)."""
        key = self.caller()
        if key is None:
            with self.primary.connect() as conn:
                return lsn(conn.execute(CURRENT).scalar_one())
        with self._lock:
            return self._floors.get(key, 0)

    def usable(self) -> str:
        """ "replica" when the replica may serve reads now, else why not ("down", "lagging")."""
        if time.monotonic() < self._down_until:
            return "down"
        self._refresh()
        if time.monotonic() < self._down_until:
            return "down"
        return "replica" if self._lag <= self.limits.max_lag else "lagging"

    def reached(self, conn: Connection, floor: int) -> bool:
        """Whether the replica (conn) has replayed floor, waiting for it at most limits.wait seconds."""
        if floor <= self._replayed:
            return True
        deadline = time.monotonic() + self.limits.wait
        pause = 0.001
        while True:
            replayed = lsn(conn.execute(REPLAYED).scalar_one())
            if replayed >= floor:
                with self._lock:
                    self._replayed = max(self._replayed, replayed)
                return True
            if time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    @contextmanager
    def route(self) -> Iterator[tuple[str, Connection | None]]:
        """("replica", connection) when the replica may serve this caller's read now, else (why not, None)."""
        state = self.usable()
        if state != "replica":
            yield state, None
            return
        floor = self.floor()  # the primary's failures are the caller's to see
        try:
            conn = self.replica.connect()
        except DBAPIError as exc:
            self.replica_failed(exc)
            yield "down", None
            return
        with conn:
            try:
                caught_up = self.reached(conn, floor)
                if conn.in_transaction():
                    conn.rollback()  # the read's own transaction (and isolation level) starts afresh
            except DBAPIError as exc:
                self.replica_failed(exc)
                caught_up = None
            if caught_up is None:
                yield "down", None
            elif not caught_up:
                yield "behind", None
            else:
                try:
                    yield "replica", conn
                except DBAPIError as exc:
                    if lost_connection(exc):
                        self.replica_failed(exc)
                    raise


def lost_connection(exc: BaseException) -> bool:
    """Whether exc is a database connection that was refused, dropped or shut down (not a bug)."""
    if not isinstance(exc, DBAPIError):
        return False
    return bool(exc.connection_invalidated) or type(exc.orig).__module__.startswith("psycopg")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(exc).__name__])[0]


class ReadCounter(Collector):
    """kaohe_db_reads_total{service, target, reason}: reads by where they went and why."""

    def __init__(self, service: str, counts: Callable[[], dict[str, int]]) -> None:
        self.service = service
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "kaohe_db_reads",
            "Database reads by target (replica or primary) and reason",
            labels=["service", "target", "reason"],
        )
        for reason, value in sorted(self.counts().items()):
            family.add_metric([self.service, "replica" if reason == "replica" else "primary", reason], value)
        yield family
