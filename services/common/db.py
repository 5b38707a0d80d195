"""Database access shared by the services: engines, transactions, migrations."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from services.common.files import private_file
from services.common.read_routing import Caller, ReadCounter, ReadLimits, ReplicaRouter
from services.common.settings import ConfigError

log = logging.getLogger("kaohe.db")
T = TypeVar("T")
# Ids per IN list: well under SQLite's bound on parameters of one statement and PostgreSQL's 65535.
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of items of at most size, for IN lists of a bounded length."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def among(conn: Connection, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """column IN values: on PostgreSQL one array parameter (= ANY), else an IN list (keep it chunked).

    An IN list of hundreds of parameters costs the driver more to render and parse than the lookup.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def lookup_size(conn: Connection) -> int:
    """Values per lookup by among: all at once on PostgreSQL (one parameter), CHUNK elsewhere."""
    return 1 << 30 if conn.dialect.name == "postgresql" else CHUNK


def sequence_table(metadata: MetaData, name: str) -> Table:
    """A change sequence: one row whose value every write transaction bumps before it commits."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("value", BigInteger, nullable=False),
    )


class Database:
    """One service's database: a writer that serialises on SQLite, and readers.

    With a sequence table, every write transaction also bumps the change sequence, in the same transaction: a
    reader that saw sequence n and then read the data has data at least as new as n, which is what lets
    a view computed after reading n be cached under n.

    With a read URL (a PostgreSQL streaming replica), read() goes to the replica when it is healthy and has
    the caller's own writes, else to the primary (services/common/read_routing.py); read(primary=True)
    always reads the primary, for reads that must be fresh (checks before a write, background loops).
    """

    def __init__(
        self,
        url: str,
        *,
        sequence: str = "",
        read_url: str = "",
        limits: ReadLimits | None = None,
        caller: Caller | None = None,
    ) -> None:
        self.url = url
        self.router: ReplicaRouter | None = None
        # Reads served when there is no replica (kaohe_db_reads_total{target="primary",reason="none"}).
        self._reads = 0
        self.sequenced = bool(sequence)
        # The table's name is the service's own (tasks and scoring may share one PostgreSQL database).
        self._bump = text(f"UPDATE {sequence} SET value = value + 1 WHERE id = 1")
        self._read_sequence = text(f"SELECT value FROM {sequence} WHERE id = 1")
        # On PostgreSQL the bump also notifies the channel of this sequence in this schema: delivered at
        # commit to every listener, whichever process wrote (services/common/change_watch.py).
        self._channel = f"'kaohe_' || md5(current_schema() || '.{sequence}')"
        self._notify = text(f"SELECT pg_notify({self._channel}, '')")
        # Called after each write that committed, in the writing process (its watchers wake at once).
        self.committed: list[Callable[[], None]] = []
        self.is_sqlite = url.startswith("sqlite")
        try:
            if self.is_sqlite:
                path = url.split("///", 1)[1] if "///" in url else ""
                if path and path != ":memory:" and not path.startswith("file:"):
                    # SQLite gives the -wal and -shm files the database file's mode: 0600 for all three.
                    private_file(Path(path))
                self.engine = create_engine(url, connect_args={"timeout": 30})
                self.reader = create_engine(url, connect_args={"timeout": 30})
                _sqlite_pragmas(self.engine, immediate=True)
                _sqlite_pragmas(self.reader, immediate=False)
            else:
                url = (
                    url.replace("postgresql://", "postgresql+psycopg://", 1)
                    if url.startswith("postgresql://")
                    else url
                )
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
                self.reader = self.engine
        except (ArgumentError, ImportError, ValueError) as exc:
            raise ConfigError(f"数据库地址 {redact(url)!r} 有误：{exc}") from None
        if read_url:
            self.router = self._replica(read_url, limits or ReadLimits(), caller)

    def _replica(self, read_url: str, limits: ReadLimits, caller: Caller | None) -> ReplicaRouter:
        if self.is_sqlite or not read_url.startswith("postgresql"):
            raise ConfigError(f"只读副本 {redact(read_url)!r}：主库与副本都须是 PostgreSQL（postgresql://…）")
        if read_url.startswith("postgresql://"):
            read_url = read_url.replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            # A replica that does not answer is given up on quickly: its reads go to the primary.
            replica = create_engine(
                read_url,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=20,
                connect_args={"connect_timeout": 2},
            )
        except (ArgumentError, ImportError, ValueError) as exc:
            raise ConfigError(f"只读副本地址 {redact(read_url)!r} 有误：{exc}") from None
        return ReplicaRouter(self.engine, replica, limits=limits, caller=caller)

    def read_metrics(self, service: str) -> ReadCounter:
        """kaohe_db_reads_total of this database's reads, for the service's registry."""
        router = self.router
        return ReadCounter(
            service, lambda: dict(router.counts) if router is not None else self._plain_reads()
        )

    def _plain_reads(self) -> dict[str, int]:
        return {"none": self._reads}

    def check(self) -> None:
        """Connects once, so a wrong URL stops start-up with one clear line."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"无法连接数据库 {redact(self.url)}：{reason}") from None

    def reachable(self) -> bool:
        """Whether the database answers now (for health: NOT_SERVING while it does not)."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: commits when the block ends, rolls back on any error."""
        with self.engine.begin() as conn:
            yield conn
            # Last, so that on PostgreSQL the row lock is held only from here to the commit; a block
            # that rolled back on purpose (validation only) wrote nothing.
            if self.sequenced and conn.in_transaction():
                conn.execute(self._bump)
                if not self.is_sqlite:
                    conn.execute(self._notify)
        for note in self.committed:
            note()
        if self.router is not None:
            # Committed: the caller's next reads wait for the replica to replay this far, or read the primary.
            self.router.wrote()

    def channel(self, conn: Connection) -> str:
        """The PostgreSQL channel each write notifies (its name depends on conn's schema)."""
        return str(conn.execute(text(f"SELECT {self._channel}")).scalar_one())

    def sequence(self, *, polled: bool = False) -> int:
        """The change sequence as committed now (0 when the service keeps none).

        polled: the change watch looking again, not a read a caller asked for — not counted in
        kaohe_db_reads_total when there is no replica (with one, it is routed like the reads after it).
        """
        if not self.sequenced:
            return 0
        if polled and self.router is None:
            with self.reader.connect() as conn:
                return int(conn.execute(self._read_sequence).scalar_one())
        # Where the reads that follow go: data read after it is then at least as new as the sequence.
        with self.read() as conn:
            return int(conn.execute(self._read_sequence).scalar_one())

    @contextmanager
    def read(self, *, primary: bool = False) -> Iterator[Connection]:
        """A connection to read with: the replica's when one is set, usable and caught up for the caller.

        primary=True: the primary's, always (a read that must see every commit so far).
        """
        router = self.router
        if router is None or primary:
            if router is None:
                self._reads += 1
            else:
                router.count("required")
            with self.reader.connect() as conn:
                yield conn
            return
        with router.route() as (reason, replica):
            router.count(reason)
            if replica is not None:
                yield replica
                return
        with self.reader.connect() as conn:
            yield conn
            router.note_primary_read(conn)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()
        if self.router is not None:
            self.router.replica.dispose()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _sqlite_pragmas(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is off so that BEGIN IMMEDIATE below is ours:
        # writers then queue on the database lock instead of failing to upgrade a read lock.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def advisory_xact_lock(conn: Connection, key: int) -> None:
    """PostgreSQL's transaction-scoped advisory lock on key, within this schema only.

    Advisory locks belong to the whole database; two deployments (or test runs) in two schemas of one
    database would otherwise queue behind each other's imports and migrations.
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(:k # hashtext(current_schema())::bigint)"), {"k": key})


def try_advisory_xact_lock(conn: Connection, key: int) -> bool:
    """advisory_xact_lock's lock when nobody holds it now (True); False at once when somebody does."""
    query = text("SELECT pg_try_advisory_xact_lock(:k # hashtext(current_schema())::bigint)")
    return bool(conn.execute(query, {"k": key}).scalar_one())


def migrate(db: Database, script_location: Path, *, service: str) -> None:
    """Creates the schema when empty and upgrades it when old (Alembic), one replica at a time."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    with db.engine.begin() as conn:
        if not db.is_sqlite:
            lock = int(hashlib.sha256(f"kaohe-migrate-{service}".encode()).hexdigest()[:15], 16)
            advisory_xact_lock(conn, lock)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
