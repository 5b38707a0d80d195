"""ImportLedger: a ledger file's lines, streamed in batches, staged, then written set-based at once.

The lines arrive in batches and are checked in file order as they come, each batch against the store
and against what the file said before (kept in the transaction's staging tables, services/tasks/staging):
no line is held beyond its batch (handlers/import_lines.py). Once the stream ends, each touched task's
history is replayed (a bounded chunk of tasks at a time) and the staged rows move into the real tables
(handlers/import_replay.py) — all in one transaction, so a refused line anywhere stores nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError

from services.common.errors import DomainError, StaleEtag
from services.tasks import decisions, staging
from services.tasks.handlers.commands import ImportLedger
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.import_batch import check
from services.tasks.handlers.import_replay import finish
from services.tasks.handlers.import_run import ImportRun
from services.tasks.storage import repository as repo

Lines = Iterable[list[tuple[int, str]]]


def import_ledger(
    ctx: TasksContext, decided_by: decisions.ImportDecisions, cmd: ImportLedger, batches: Lines
) -> tuple[Counter[str], Counter[str]]:
    """All or nothing: every line is checked before anything is committed.

    batches are the file's (line, text) pairs in file order, a bounded list at a time. Under an
    import_id (the tasks half of a two-service import), the decision "committed" is written in the
    same transaction: it is what scoring's recovery asks about.
    """
    decided = cmd.import_id if not cmd.validate_only else ""
    try:
        with ctx.db.write() as conn:
            repo.lock_imports(conn)
            if decided:
                decided_by.commit_in(conn, decided)
            staging.create(conn)
            run = ImportRun(conn, ctx.scheme, ctx.calendar)
            for batch in batches:
                check(run, batch)
            finish(run)
            staging.drop(conn)
            if cmd.validate_only:
                conn.rollback()
                return run.created, run.unchanged
            # The planner's statistics commit with the rows: a run straight after a bulk import plans well.
            repo.analyze_imported(conn)
            ctx.audit.changed(
                conn, actor=cmd.actor, method="ImportLedger", target=f"created={dict(run.created)}"
            )
    except IntegrityError:
        # A task created through the API under one of the file's ids after the plan was made.
        if decided:
            decided_by.refused(decided)
        raise StaleEtag("台账在导入期间被改动；请重新导入该文件") from None
    except DomainError:
        if decided:
            decided_by.refused(decided)
        raise
    return run.created, run.unchanged
