"""The tasks service as the record of decision of two-service imports: pending, committed or aborted."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, select, update

from services.common.db import Database
from services.common.errors import InvalidArgument, StaleEtag
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import import_decisions

log = logging.getLogger("kaohe.tasks.imports")

IMPORT_ID_MAX = 64
# A pending import's process refreshes its row this often while the import is alive in it; a row not
# refreshed for STALE seconds belongs to a process that died, and recovery may abort the import.
HEARTBEAT = 5.0
STALE = 30


def check_id(import_id: str, *, required: bool = False) -> None:
    if (required and not import_id) or len(import_id) > IMPORT_ID_MAX or not import_id.isprintable():
        raise InvalidArgument("import_id", f"须为 1 到 {IMPORT_ID_MAX} 个可打印字符")


class ImportDecisions:
    """What became of each import the gateway ran across both services, by its id."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._alive: set[str] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, import_id: str) -> None:
        """The import's tasks half has started arriving: recovery must wait for it, not abort it."""
        with self.db.write() as conn:
            repo.lock_imports(conn)
            known = repo.import_outcome(conn, import_id)
            if known is None:
                repo.record_outcome(conn, import_id=import_id, outcome="pending", now=_now(), known=False)
            elif known[0] == "aborted":
                raise _rolled_back(import_id)
        with self._guard:
            self._alive.add(import_id)

    def ended(self, import_id: str) -> None:
        """The import's tasks half is done in this process, committed or not."""
        with self._guard:
            self._alive.discard(import_id)

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

    def peek(self, import_id: str) -> str:
        """committed, aborted or pending as recorded, "undecided" when nothing is: nothing is written."""
        check_id(import_id, required=True)
        with self.db.read(primary=True) as conn:
            known = repo.import_outcome(conn, import_id)
        return "undecided" if known is None else known[0]

    def resolve(self, import_id: str) -> str:
        """committed, aborted, or pending while its stream may still arrive; an undecided one is aborted.

        Only behind the import lock, where an import whose transaction ran has committed or failed. While
        one is running (a province's takes many minutes) the answer is pending at once: recovery asks again
        on its next round, rather than holding a connection and a thread of this service until it ends.
        """
        check_id(import_id, required=True)
        with self.db.write() as conn:
            if not repo.try_lock_imports(conn):
                return "pending"
            known = repo.import_outcome(conn, import_id)
            now = _now()
            with self._guard:
                alive = import_id in self._alive
            if known is not None and (known[0] != "pending" or alive or now - known[1] < STALE):
                return known[0]
            repo.record_outcome(
                conn, import_id=import_id, outcome="aborted", now=now, known=known is not None
            )
            return "aborted"

    def start(self) -> None:
        """Keeps the rows of this process's pending imports fresh, for recovery run by other replicas."""
        self._thread = threading.Thread(target=self._beat, name="import-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            self.refresh()

    def refresh(self) -> None:
        """One beat: the rows of this process's pending imports that no transaction holds, made fresh."""
        with self._guard:
            alive = sorted(self._alive)
        if not alive:
            return
        try:
            with self.db.write() as conn:
                # An import's own transaction holds its row (commit_in wrote "committed" there): skipped, not
                # waited for until it commits (a province's: minutes), a pooled connection held meanwhile.
                free = conn.execute(
                    select(import_decisions.c.import_id)
                    .where(import_decisions.c.import_id.in_(alive), import_decisions.c.outcome == "pending")
                    .with_for_update(skip_locked=True)
                ).scalars()
                fresh = list(free)
                if fresh:
                    conn.execute(
                        update(import_decisions)
                        .where(import_decisions.c.import_id.in_(fresh))
                        .values(decided_at=_now())
                    )
        except Exception:  # the import's own transaction holds SQLite's writer: the next beat tries again
            log.warning("pending imports not refreshed", exc_info=True)


def _now() -> int:
    return int(time.time())


def _rolled_back(import_id: str) -> StaleEtag:
    return StaleEtag(f"导入 {import_id} 在等待中已回滚；请重新导入该文件")
