"""Two-phase imports on the scoring side: stage, commit or abort, and settle what a crash left staged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, select, tuple_

from services.common.db import Database, advisory_xact_lock, chunks
from services.common.errors import StaleEtag
from services.scoring.storage import repository as repo
from services.scoring.storage.tables import staged_imports, staged_records

log = logging.getLogger("kaohe.scoring.imports")
T = TypeVar("T")
# An arbitrary 63-bit key naming scoring's import lock among PostgreSQL's advisory locks.
IMPORT_LOCK = 0x6B616F6865_7363
# How long an import waits for the one before it to finish before it is told to retry.
IMPORT_WAIT = 20.0
BUSY = "另一项导入正在进行；请等它完成后再试"


def lock(conn: Connection) -> None:
    """Orders imports, their phases and single records one behind the other (SQLite's writer already does)."""
    if conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, IMPORT_LOCK)


def exclusive(
    db: Database,
    *,
    import_id: str,
    work: Callable[[Connection], T],
    validate_only: bool = False,
    wait: float | None = None,
) -> T:
    """work in one transaction while no import is staged, staging import_id with it when given.

    A staged import is the lock every import holds from its first phase to its second: a second one
    waits up to wait seconds for it to be committed or aborted, then is told to retry. A check alone
    (validate_only) needs no lock: it writes nothing.
    """
    if validate_only:
        with db.write() as conn:
            return work(conn)
    deadline = time.monotonic() + (IMPORT_WAIT if wait is None else wait)
    while True:
        with db.write() as conn:
            lock(conn)
            staged = list(conn.execute(select(staged_imports.c.import_id)).scalars())
            if import_id in staged:
                raise StaleEtag(f"导入 {import_id} 已在暂存中")
            if not staged:
                result = work(conn)
                if import_id:
                    # Stamped once its records are staged: recovery counts from here, however long checks ran.
                    conn.execute(
                        staged_imports.insert().values(import_id=import_id, created_at=int(time.time()))
                    )
                return result
        if time.monotonic() >= deadline:
            raise StaleEtag(BUSY)
        time.sleep(0.2)


def stage(conn: Connection, *, import_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """The records of an import, kept apart from the stored ones until the import commits."""
    if rows:
        conn.execute(
            staged_records.insert(),
            [
                {k: row[k] for k in ("kind", "rid", "unit", "year", "payload", "created_at")}
                | {"import_id": import_id}
                for row in rows
            ],
        )


def refuse_staged(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    """A record an import has staged is reserved for it: another write of its id waits for the import."""
    for part in chunks(list(keys)):
        found = conn.execute(
            select(staged_records.c.kind, staged_records.c.rid).where(
                tuple_(staged_records.c.kind, staged_records.c.rid).in_(part)
            )
        ).first()
        if found is not None:
            raise StaleEtag(f"一项含有 {found.kind} {found.rid!r} 的导入正在进行；请稍后再试")


def commit(db: Database, import_id: str) -> bool:
    """The staged records become stored ones, in one transaction; False when nothing was staged."""
    with db.write() as conn:
        lock(conn)
        if not _is_staged(conn, import_id):
            return False
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(staged_records)
                .where(staged_records.c.import_id == import_id)
                .order_by(staged_records.c.seq)
            )
        ]
        stored = repo.stored_payloads(conn, [(r["kind"], r["rid"]) for r in rows])
        fresh = []
        for row in rows:
            record = {
                **{k: row[k] for k in ("kind", "rid", "unit", "year", "payload", "created_at")},
                "voided": False,
                "void_reason": "",
                "updated_at": row["created_at"],
                "version": 1,
            }
            before = stored.get((row["kind"], row["rid"]))
            if before is None:
                fresh.append(record)
            elif before[1]:
                repo.replace_voided(conn, record)
            # A live record of the same id can only be this one stored identically: staged ids are reserved.
        repo.insert_records(conn, fresh)
        _drop(conn, import_id)
        return True


def abort(db: Database, import_id: str) -> bool:
    """The staged records are dropped; False when nothing was staged."""
    with db.write() as conn:
        lock(conn)
        if not _is_staged(conn, import_id):
            return False
        _drop(conn, import_id)
        return True


def _is_staged(conn: Connection, import_id: str) -> bool:
    query = select(staged_imports.c.import_id).where(staged_imports.c.import_id == import_id)
    return conn.execute(query).first() is not None


def _drop(conn: Connection, import_id: str) -> None:
    conn.execute(delete(staged_records).where(staged_records.c.import_id == import_id))
    conn.execute(delete(staged_imports).where(staged_imports.c.import_id == import_id))


class StagedImports:
    """The second phase of two-phase imports, as the scoring service's use cases offer it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def commit(self, import_id: str) -> bool:
        """The tasks service recorded the import committed: its records are stored (a repeat is a no-op)."""
        return commit(self.db, import_id)

    def abort(self, import_id: str) -> bool:
        """The tasks service refused the import: its staged records go (a repeat is a no-op)."""
        return abort(self.db, import_id)


def staged_before(db: Database, instant: float) -> list[str]:
    """The imports staged before instant (epoch seconds), oldest first."""
    with db.read(primary=True) as conn:
        query = (
            select(staged_imports.c.import_id)
            .where(staged_imports.c.created_at < instant)
            .order_by(staged_imports.c.created_at)
        )
        return list(conn.execute(query).scalars())


class ImportRecovery:
    """Settles imports a crash left staged, as the tasks service decided: committed, or else aborted.

    Runs at start-up and every `every` seconds; an import is left alone for `after` seconds, the time
    its gateway has to finish it.
    """

    def __init__(
        self,
        db: Database,
        resolve: Callable[[str], str],
        *,
        after: float,
        every: float = 10.0,
        peek: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        self.resolve = resolve
        # What tasks decided, without deciding: settles a decided import at start-up whatever its age.
        self.peek = peek
        self.after = after
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, bool]:
        """One round: import id → whether it was committed (True) or rolled back (False)."""
        settled: dict[str, bool] = {}
        for import_id in staged_before(self.db, time.time() - self.after):
            try:
                outcome = self.resolve(import_id)
            except Exception as exc:  # the tasks service is unreachable: the next round asks again
                log.warning("import not settled", extra={"import_id": import_id, "reason": str(exc)[:200]})
                continue
            if outcome == "pending":
                # Its tasks half is still arriving: the import's own gateway finishes it.
                continue
            committed = outcome == "committed"
            done = commit(self.db, import_id) if committed else abort(self.db, import_id)
            if done:
                settled[import_id] = committed
                log.info(
                    "import settled",
                    extra={"import_id": import_id, "outcome": "committed" if committed else "rolled back"},
                )
        return settled

    def settle_decided(self, *, wait: float = 10.0) -> dict[str, bool]:
        """At start-up, before the service answers: every staged import the tasks service has already
        decided is committed or dropped now, whatever its age (no waiting out `after`); an undecided one
        is left to its gateway and to the rounds. Tasks not answering is retried for up to wait seconds."""
        settled: dict[str, bool] = {}
        if self.peek is None:
            return settled
        deadline = time.monotonic() + wait
        for import_id in staged_before(self.db, float("inf")):
            outcome = ""
            while not outcome:
                try:
                    outcome = self.peek(import_id)
                except Exception as exc:  # tasks is starting too, or down: ask again, within the bound
                    if time.monotonic() > deadline or self._stop.wait(0.2):
                        log.warning(
                            "import not settled at start-up",
                            extra={"import_id": import_id, "reason": str(exc)[:200]},
                        )
                        return settled
            if outcome not in ("committed", "aborted"):
                continue
            committed = outcome == "committed"
            if commit(self.db, import_id) if committed else abort(self.db, import_id):
                settled[import_id] = committed
                log.info(
                    "import settled at start-up",
                    extra={"import_id": import_id, "outcome": "committed" if committed else "rolled back"},
                )
        return settled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="import-recovery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end recovery for the process's lifetime
                log.exception("import recovery round failed")
            self._stop.wait(self.every)
