"""Where accounts live: one table in the gateway's database, migrated by Alembic."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    false,
    select,
)
from sqlalchemy.exc import IntegrityError

from services.common.audit import audit_table
from services.common.db import Database, migrate
from services.common.errors import AlreadyExists, NotFound
from services.common.idempotency import requests_table
from services.gateway.accounts.domain import Account

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
metadata = MetaData()
accounts = Table(
    "accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(512), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_login_at", BigInteger, nullable=False),
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    Column("token_generation", Integer, nullable=False, server_default="0"),
)

# Changes to accounts (in their own transactions), and what the gateway refuses or passes on.
audit = audit_table(metadata, "gateway_audit")
# The account writes done, by request id (services/common/idempotency.py): a retry gets the first answer.
requests = requests_table(metadata, "gateway_requests")


def gateway_db_url(data_dir: Path) -> str:
    """KAOHE_GATEWAY_DB_URL, else the SQLite file DIR/gateway.db."""
    return os.environ.get("KAOHE_GATEWAY_DB_URL") or f"sqlite:///{data_dir / 'gateway.db'}"


def open_database(url: str) -> Database:
    """The gateway's database, its schema created or upgraded."""
    db = Database(url)
    migrate(db, MIGRATIONS, service="gateway")
    return db


def _account(row: object) -> Account:
    m = row._mapping  # type: ignore[attr-defined]
    return Account(
        username=m["username"],
        role=m["role"],
        unit=m["unit"],
        name=m["name"],
        password_hash=m["password_hash"],
        disabled=bool(m["disabled"]),
        created_at=int(m["created_at"]),
        last_login_at=int(m["last_login_at"]),
        must_change_password=bool(m["must_change_password"]),
        token_generation=int(m["token_generation"]),
    )


class AccountRepository:
    """Accounts on one connection (one transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, username: str) -> Account:
        row = self.conn.execute(select(accounts).where(accounts.c.username == username)).first()
        if row is None:
            raise NotFound(f"账号“{username}”不存在")
        return _account(row)

    def find(self, username: str) -> Account | None:
        row = self.conn.execute(select(accounts).where(accounts.c.username == username)).first()
        return None if row is None else _account(row)

    def add(self, account: Account) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    accounts.insert().values(
                        username=account.username,
                        role=account.role,
                        unit=account.unit,
                        name=account.name,
                        password_hash=account.password_hash,
                        disabled=account.disabled,
                        created_at=account.created_at,
                        last_login_at=account.last_login_at,
                        must_change_password=account.must_change_password,
                        token_generation=account.token_generation,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"账号“{account.username}”已存在") from None

    def save(self, account: Account) -> None:
        self.conn.execute(
            accounts.update()
            .where(accounts.c.username == account.username)
            .values(
                password_hash=account.password_hash,
                disabled=account.disabled,
                last_login_at=account.last_login_at,
                name=account.name,
                must_change_password=account.must_change_password,
                token_generation=account.token_generation,
            )
        )

    def list(self) -> list[Account]:
        return [_account(r) for r in self.conn.execute(select(accounts).order_by(accounts.c.username))]

    def count_office(self) -> int:
        rows = self.conn.execute(select(accounts.c.username).where(accounts.c.role == "office"))
        return len(rows.all())

    def enabled_office(self, *, for_update: bool = False) -> tuple[str, ...]:
        """The enabled office accounts' names; for_update locks their rows (two disables cannot both pass)."""
        query = select(accounts.c.username).where(accounts.c.role == "office", accounts.c.disabled == false())
        rows = self.conn.execute(
            query.order_by(accounts.c.username).with_for_update() if for_update else query
        )
        return tuple(row[0] for row in rows)
