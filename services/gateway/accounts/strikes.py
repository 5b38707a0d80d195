"""The login throttle's strikes in the gateway's database: one count for every gateway process."""

from __future__ import annotations

from sqlalchemy import Column, Connection, Float, Integer, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from services.common.db import Database
from services.gateway.accounts.domain import FORGET_SECONDS, Strikes, Throttle
from services.gateway.accounts.storage import metadata

login_strikes = Table(
    "login_strikes",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),
    Column("locked_until", Float, nullable=False),
)


class StrikeRepository:
    """Strikes on one connection (one transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load(self, keys: list[str], *, for_update: bool = False) -> dict[str, Strikes]:
        """The keys' strikes; for_update locks their rows (in key order, so two writers cannot deadlock)."""
        found: dict[str, Strikes] = {}
        for key in sorted(set(keys)):
            query = select(login_strikes).where(login_strikes.c.key == key)
            row = self.conn.execute(query.with_for_update() if for_update else query).first()
            if row is not None:
                m = row._mapping
                found[key] = Strikes(
                    failures=int(m["failures"]),
                    last_failure=float(m["last_failure"]),
                    locked_until=float(m["locked_until"]),
                )
        return found

    def reserve(self, keys: list[str]) -> None:
        """A row for every key, so that load(for_update=True) has something to lock."""
        insert = postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert
        for key in sorted(set(keys)):
            self.conn.execute(
                insert(login_strikes)
                .values(key=key, failures=0, last_failure=0.0, locked_until=0.0)
                .on_conflict_do_nothing(index_elements=["key"])
            )

    def save(self, strikes: dict[str, Strikes]) -> None:
        for key, entry in strikes.items():
            self.conn.execute(
                login_strikes.update()
                .where(login_strikes.c.key == key)
                .values(
                    failures=entry.failures, last_failure=entry.last_failure, locked_until=entry.locked_until
                )
            )

    def clear(self, key: str) -> None:
        self.conn.execute(delete(login_strikes).where(login_strikes.c.key == key))

    def forget(self, *, before: float) -> None:
        self.conn.execute(delete(login_strikes).where(login_strikes.c.last_failure < before))


class StoredThrottle:
    """Throttle's rules over the database: a lock earned through one gateway process holds in all."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def check(self, keys: list[str], *, now: float) -> None:
        """Unauthenticated naming the wait when any key is locked."""
        with self.db.read() as conn:
            Throttle(StrikeRepository(conn).load(keys)).check(keys, now=now)

    def fail(self, keys: list[str], *, now: float) -> None:
        """Counts a failure against every key in one transaction, the rows locked meanwhile."""
        with self.db.write() as conn:
            repo = StrikeRepository(conn)
            repo.reserve(keys)
            throttle = Throttle(repo.load(keys, for_update=True))
            throttle.fail(keys, now=now)
            repo.save({key: throttle.strikes[key] for key in keys})
            repo.forget(before=now - FORGET_SECONDS)

    def attempt(self, keys: list[str], *, now: float) -> None:
        """One login attempt counted before its password is verified, in one transaction with the rows
        locked: of a parallel burst, only as many as the free attempts (and one more) get to verify."""
        with self.db.write() as conn:
            repo = StrikeRepository(conn)
            repo.reserve(keys)
            throttle = Throttle(repo.load(keys, for_update=True))
            throttle.attempt(keys, now=now)
            repo.save({key: throttle.strikes[key] for key in keys})
            repo.forget(before=now - FORGET_SECONDS)

    def refund(self, conn: Connection, key: str) -> None:
        """A right password's attempt taken back from key (the address's), in the login's transaction."""
        repo = StrikeRepository(conn)
        throttle = Throttle(repo.load([key], for_update=True))
        throttle.refund(key)
        if key in throttle.strikes:
            repo.save({key: throttle.strikes[key]})

    def succeed(self, account_key: str, conn: Connection | None = None) -> None:
        """A good password clears its account's strikes (an address keeps its own)."""
        if conn is not None:
            StrikeRepository(conn).clear(account_key)
            return
        with self.db.write() as own:
            StrikeRepository(own).clear(account_key)
