"""Numbers for the ids the scoring service makes, from a counter row per scope; never commit.

A counter is taken by one INSERT … ON CONFLICT DO UPDATE … RETURNING inside the write's transaction (SQLite
and PostgreSQL alike): two writers of one scope queue on its row, each gets its own number, and a
transaction that rolls back gives its number back. No count + 1, no retry on a collision.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.scoring.storage.tables import id_counters


def take(conn: Connection, scope: str) -> int:
    """The next number of scope (1 for a scope never counted), the counter moved past it."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(id_counters)
        .values(scope=scope, next=2)
        .on_conflict_do_update(index_elements=[id_counters.c.scope], set_={"next": id_counters.c.next + 1})
        .returning(id_counters.c.next)
    )
    return int(conn.execute(statement).scalar_one()) - 1


def next_free(
    conn: Connection, scope: str, *, name: Callable[[int], str], taken: Callable[[str], bool]
) -> str:
    """The id name(n) of the next number n of scope whose id nothing holds yet (an id given by hand, or a
    record imported under it, is passed over)."""
    while True:
        candidate = name(take(conn, scope))
        if not taken(candidate):
            return candidate
