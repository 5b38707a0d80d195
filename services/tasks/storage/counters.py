"""Id counters: the next number of a scope, drawn in the caller's transaction (never committed here)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.storage.tables import id_counters


def draw(conn: Connection, scope: str, *, first: Callable[[], int]) -> int:
    """The scope's next number, and the counter moved past it.

    A scope without a counter yet starts at first() (what the stored rows already used, plus one). The
    counter's row stays locked to the end of the transaction on PostgreSQL: a concurrent draw waits for it
    and then takes the number after (SQLite runs its writers one at a time).
    """
    exists = conn.execute(select(id_counters.c.scope).where(id_counters.c.scope == scope)).first()
    if exists is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(id_counters)
            .values(scope=scope, next=first())
            .on_conflict_do_nothing(index_elements=["scope"])
        )
    taken = conn.execute(
        update(id_counters)
        .where(id_counters.c.scope == scope)
        .values(next=id_counters.c.next + 1)
        .returning(id_counters.c.next)
    ).scalar_one()
    return int(taken) - 1
