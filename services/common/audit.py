"""The audit trail of a service that makes changes: an append-only table, one row per change or refusal."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, Text, select
from sqlalchemy.exc import SQLAlchemyError

from services.common.auth import Identity
from services.common.db import Database
from services.common.settings import ConfigError

log = logging.getLogger("kaohe.audit")
T = TypeVar("T")
CHANGED = "changed"
REFUSED = "refused"
# Bounded so that a hostile caller's text cannot grow the table by more than a row's worth.
_TEXT_LIMIT = 512


def audit_table(metadata: MetaData, name: str) -> Table:
    """The service's audit table: who (subject, role, unit), what (method, target), when, outcome."""
    return Table(
        name,
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("at", BigInteger, nullable=False),
        Column("subject", String(256), nullable=False),
        Column("role", String(32), nullable=False),
        Column("unit", String(64), nullable=False),
        Column("method", String(128), nullable=False),
        Column("target", String(512), nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("detail", Text, nullable=False),
        Index(f"ix_{name}_at", "at"),
    )


def _cut(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AuditTrail:
    """Writes a service's audit rows; the table has no update or delete path here or anywhere else."""

    def __init__(self, db: Database, table: Table, *, clock: Callable[[], int] | None = None) -> None:
        self.db = db
        self.table = table
        self.clock = clock or (lambda: int(time.time()))

    def _row(self, actor: Identity | None, method: str, target: str, outcome: str, detail: str) -> Any:
        who = actor or Identity(role="", subject="")
        return self.table.insert().values(
            at=self.clock(),
            subject=_cut(who.subject, 256),
            role=_cut(who.role, 32),
            unit=_cut(who.unit, 64),
            method=_cut(method, 128),
            target=_cut(target),
            outcome=outcome,
            detail=_cut(detail, 2048),
        )

    def changed(
        self, conn: Connection, *, actor: Identity, method: str, target: str, detail: str = ""
    ) -> None:
        """A change, written in the change's own transaction: both are stored, or neither."""
        conn.execute(self._row(actor, method, target, CHANGED, detail))

    def audited(
        self, work: Callable[[Connection], T], *, actor: Identity, method: str, target: Callable[[T], str]
    ) -> Callable[[Connection], T]:
        """work, followed in its transaction by the audit row naming what it changed."""

        def run(conn: Connection) -> T:
            result = work(conn)
            self.changed(conn, actor=actor, method=method, target=target(result))
            return result

        return run

    def refused(self, *, actor: Identity | None, method: str, code: str, reason: str) -> None:
        """A refused call, in a small transaction of its own; a failure to write it is logged, not raised."""
        self.note(actor=actor, method=method, outcome=REFUSED, detail=f"{code}: {reason}")

    def note(
        self, *, actor: Identity | None, method: str, outcome: str, target: str = "", detail: str = ""
    ) -> bool:
        """A row in a small transaction of its own (a refusal, work done elsewhere); False if not written."""
        try:
            with self.db.write() as conn:
                conn.execute(self._row(actor, method, target, outcome, detail))
        except SQLAlchemyError:
            log.exception("the audit row was not written", extra={"method": method, "outcome": outcome})
            return False
        return True

    def probe(self) -> None:
        """At start-up: a row written and rolled back, so a service that cannot audit does not start."""
        try:
            with self.db.engine.connect() as conn, conn.begin() as transaction:
                conn.execute(self._row(None, "probe", "", "probe", "start-up check, rolled back"))
                transaction.rollback()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ConfigError(f"无法写入审计表 {self.table.name}：{reason}") from None

    def rows(self, *, outcome: str | None = None) -> list[dict[str, Any]]:
        """Every row in order (for the office's inspection and the tests)."""
        query = select(self.table).order_by(self.table.c.seq)
        if outcome is not None:
            query = query.where(self.table.c.outcome == outcome)
        with self.db.read(primary=True) as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """Triggers refusing UPDATE and DELETE (and TRUNCATE on PostgreSQL) of the audit table, for migrations."""
    message = f"{table} is append-only"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    return [
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
    ]


def drop_append_only_ddl(table: str, dialect: str) -> list[str]:
    """The triggers of append_only_ddl dropped again (a downgrade)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for verb in ("update", "delete")]
    return [f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE"]
