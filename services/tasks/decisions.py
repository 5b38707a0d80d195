"""The tasks service as the record of decision of two-service imports: pending, committed or aborted."""

from __future__ import annotations

import time

from sqlalchemy import Connection

from services.common.db import Database
from services.common.errors import InvalidArgument, StaleEtag
from services.tasks.storage import repository as repo

IMPORT_ID_MAX = 64
# How long an import's stream may take, from its first message to its transaction, before scoring's
# recovery may decide it is dead: a prefecture's ledger parses in well under this.
PENDING_LIMIT = 600


def check_id(import_id: str, *, required: bool = False) -> None:
    if (required and not import_id) or len(import_id) > IMPORT_ID_MAX or not import_id.isprintable():
        raise InvalidArgument("import_id", f"must be 1 to {IMPORT_ID_MAX} printable characters")


class ImportDecisions:
    """What became of each import the gateway ran across both services, by its id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(self, import_id: str) -> None:
        """The import's tasks half has started arriving: recovery must wait for it, not abort it."""
        with self.db.write() as conn:
            repo.lock_imports(conn)
            known = repo.import_outcome(conn, import_id)
            if known is None:
                repo.record_outcome(conn, import_id=import_id, outcome="pending", now=_now(), known=False)
            elif known[0] == "aborted":
                raise _rolled_back(import_id)

    def commit_in(self, conn: Connection, import_id: str) -> None:
        """In the import's own transaction (behind the import lock): the decision "committed"."""
        known = repo.import_outcome(conn, import_id)
        if known is not None and known[0] == "aborted":
            raise _rolled_back(import_id)
        if known is None or known[0] == "pending":
            repo.record_outcome(
                conn, import_id=import_id, outcome="committed", now=_now(), known=known is not None
            )

    def refused(self, import_id: str) -> None:
        """The tasks half was refused: the import is aborted, so recovery need not wait for it."""
        with self.db.write() as conn:
            repo.lock_imports(conn)
            known = repo.import_outcome(conn, import_id)
            if known is not None and known[0] == "pending":
                repo.record_outcome(conn, import_id=import_id, outcome="aborted", now=_now(), known=True)

    def resolve(self, import_id: str) -> str:
        """committed, aborted, or pending while its stream may still arrive; an undecided one is aborted.

        Behind the import lock, an import whose transaction is running has committed or failed by then.
        """
        check_id(import_id, required=True)
        with self.db.write() as conn:
            repo.lock_imports(conn)
            known = repo.import_outcome(conn, import_id)
            now = _now()
            if known is not None and (known[0] != "pending" or now - known[1] < PENDING_LIMIT):
                return known[0]
            repo.record_outcome(
                conn, import_id=import_id, outcome="aborted", now=now, known=known is not None
            )
            return "aborted"


def _now() -> int:
    return int(time.time())


def _rolled_back(import_id: str) -> StaleEtag:
    return StaleEtag(f"import {import_id} was rolled back while it waited; import the file again")
