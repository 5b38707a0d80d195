"""The ledger import of the tasks service, as the servicer calls it (the work: handlers/imports.py)."""

from __future__ import annotations

from collections import Counter

from services.common.auth import Identity
from services.tasks import decisions
from services.tasks.handlers import imports
from services.tasks.handlers.commands import ImportLedger
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.imports import Lines

__all__ = ["LedgerImport", "Lines"]


class LedgerImport:
    """Imports of ledger lines into one tasks database, under the scheme its context serves."""

    def __init__(self, context: TasksContext) -> None:
        self.context = context
        self.decisions = decisions.ImportDecisions(context.db)

    def import_ledger(
        self, batches: Lines, *, validate_only: bool, actor: Identity, import_id: str = ""
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing: every line is checked before anything is committed (see handlers/imports)."""
        command = ImportLedger(actor=actor, validate_only=validate_only, import_id=import_id)
        return imports.import_ledger(self.context, self.decisions, command, batches)

    def begin(self, import_id: str) -> None:
        """The first message of an import's tasks half has arrived (see ImportDecisions.begin)."""
        decisions.check_id(import_id, required=True)
        self.decisions.begin(import_id)
