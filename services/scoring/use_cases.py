"""The scoring service's use cases behind one facade: records, runs (draft → 公示 → 定档), previews.

ScoringApp keeps the methods the servicer calls; each builds its command (commands.py) and hands it to
the one handler of that use case (handlers/), which is given the small Context, never the app.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.db import Database
from services.common.scheme import Scheme
from services.common.timeutil import now_epoch
from services.scoring import domain, staging
from services.scoring.applications import Workflow
from services.scoring.commands import (
    CreateRecord,
    CreateRun,
    DecideAppeal,
    FinalizeRun,
    GetRun,
    ImportRecords,
    ListRecords,
    ListRuns,
    Preview,
    PublishRun,
    VoidRecord,
)
from services.scoring.handlers import appeals, computing, importing, records, run_states, runs
from services.scoring.handlers.context import Context, stored_scheme
from services.scoring.inputs import TasksPort
from services.scoring.storage.tables import audit
from services.scoring.views import RecordView, RunView

__all__ = ["ScoringApp", "TasksPort"]


class ScoringApp:
    """Everything the scoring service does, one use case per method."""

    def __init__(
        self,
        db: Database,
        scheme: Scheme,
        tasks: TasksPort,
        on_run: Callable[[str, float], None] | None = None,
        clock: Callable[[], int] = now_epoch,
    ) -> None:
        self.db = db
        self.scheme = scheme
        self.tasks = tasks
        self.tz = scheme.tz
        self.on_run = on_run or (lambda state, seconds: None)
        # The instant, in epoch seconds, every rule about "now" reads (appeal windows, publication).
        self.clock = clock
        self.staged = staging.StagedImports(db)
        self.audit = AuditTrail(db, audit, clock=clock)
        # The handlers read the app's clock and scheme lookup as they are when they ask: one set later
        # (a test's fake clock) holds.
        self.context = Context(
            db=db,
            scheme=scheme,
            tasks=tasks,
            audit=self.audit,
            clock=lambda: self.clock(),
            on_run=lambda state, seconds: self.on_run(state, seconds),
            scheme_by_sha=lambda sha: self.scheme_by_sha(sha),
        )
        self.workflow = Workflow(self.context)

    # ---- schemes and computing

    def scheme_by_sha(self, sha: str) -> Scheme:
        return stored_scheme(self.db, self.scheme, sha)

    def in_force(self, scheme: Scheme) -> Scheme:
        """scheme under the holiday notices imported into the ledger (SCORING.md §1)."""
        return computing.in_force(self.context, scheme)

    def compute(
        self, *, year: int, as_of: datetime, scheme: Scheme, strict: bool = True
    ) -> tuple[domain.Assessment, str]:
        """The assessment and its input digest (strict: an applies_to naming nothing known is refused)."""
        return computing.compute(self.context, year=year, as_of=as_of, scheme=scheme, strict=strict)

    def cutoff(self, *, year: int, as_of: str, scheme: Scheme) -> datetime:
        """The run's as_of: as given, else the earlier of the year's end and now (SCORING.md)."""
        return computing.cutoff(self.context, year=year, as_of=as_of, scheme=scheme)

    def preview(self, *, actor: Identity, year: int, as_of: str, unit: str) -> dict[str, Any]:
        """A draft computation as of now (or as_of), stored nowhere."""
        return computing.preview(self.context, Preview(actor=actor, year=year, as_of=as_of, unit=unit))

    # ---- records

    def import_records(
        self,
        lines: Iterable[tuple[int, str]],
        *,
        validate_only: bool,
        actor: Identity,
        pending_units: set[str],
        pending_tasks: dict[str, tuple[str, list[str]]],
        stage_as: str = "",
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing, a changed record refused; with stage_as (an import id) staged until it commits."""
        command = ImportRecords(
            actor=actor,
            lines=lines,
            validate_only=validate_only,
            pending_units=pending_units,
            pending_tasks=pending_tasks,
            stage_as=stage_as,
        )
        return importing.import_records(self.context, command)

    def create_record(
        self, *, actor: Identity, request_id: str, kind: str, fields: dict[str, Any]
    ) -> RecordView:
        """One record from a person: the office records anything; a department only appeals its reports."""
        command = CreateRecord(actor=actor, request_id=request_id, kind=kind, fields=fields)
        return records.create_record(self.context, command)

    def list_records(
        self,
        *,
        actor: Identity,
        kind: str,
        unit: str,
        year: int,
        include_voided: bool,
        page_size: int,
        page_token: str,
    ) -> tuple[list[RecordView], str]:
        query = ListRecords(actor, kind, unit, year, include_voided, page_size, page_token)
        return records.list_records(self.context, query)

    def void_record(
        self, *, actor: Identity, request_id: str, kind: str, rid: str, reason: str
    ) -> RecordView:
        command = VoidRecord(actor=actor, request_id=request_id, kind=kind, rid=rid, reason=reason)
        return records.void_record(self.context, command)

    def decide_appeal(
        self, *, actor: Identity, request_id: str, rid: str, upheld: bool, reason: str
    ) -> RecordView:
        command = DecideAppeal(actor=actor, request_id=request_id, rid=rid, upheld=upheld, reason=reason)
        return appeals.decide_appeal(self.context, command)

    # ---- runs

    def create_run(
        self,
        *,
        actor: Identity,
        request_id: str,
        year: int,
        as_of: str,
        scheme_toml: str,
        supersedes: str,
        breakdown: bool = True,
    ) -> RunView:
        command = CreateRun(actor, request_id, year, as_of, scheme_toml, supersedes, breakdown)
        return runs.create_run(self.context, command)

    def get_run(self, *, actor: Identity, run_id: str, year: int, unit: str, breakdown: bool) -> RunView:
        query = GetRun(actor=actor, run_id=run_id, year=year, unit=unit, breakdown=breakdown)
        return runs.get_run(self.context, query)

    def list_runs(
        self, *, actor: Identity, year: int, page_size: int, page_token: str
    ) -> tuple[list[RunView], str]:
        query = ListRuns(actor=actor, year=year, page_size=page_size, page_token=page_token)
        return runs.list_runs(self.context, query)

    def publish_run(self, *, actor: Identity, request_id: str, run_id: str, etag: str) -> RunView:
        command = PublishRun(actor=actor, request_id=request_id, run_id=run_id, etag=etag)
        return run_states.publish_run(self.context, command)

    def finalize_run(self, *, actor: Identity, request_id: str, run_id: str, etag: str) -> RunView:
        command = FinalizeRun(actor=actor, request_id=request_id, run_id=run_id, etag=etag)
        return run_states.finalize_run(self.context, command)
