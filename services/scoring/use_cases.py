"""The scoring service's use cases: records, runs (draft → 公示 → 定档), previews."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from datetime import time as dtime
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from services.common import ranges
from services.common.audit import AuditTrail
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.db import Database
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleEtag,
)
from services.common.idempotency import idempotent
from services.common.jsonlines import check_value, loads_line
from services.common.ranges import check_year
from services.common.scheme import Scheme, check_applies_to, load_scheme
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, iso, now_epoch, to_epoch
from services.common.vocabulary import RECORD_KINDS
from services.scoring import domain, finalizing, staging, views
from services.scoring.applications import Workflow
from services.scoring.inputs import TasksPort, calendar_used, default_as_of, gather, parse_cutoff
from services.scoring.records import (
    APPEAL_TARGETS,
    Record,
    appealed,
    check_references,
    parse_record,
    record_row,
    referenced,
    referenced_tasks,
    sort_batch,
)
from services.scoring.storage import repository as repo
from services.scoring.storage.tables import audit, requests
from services.scoring.views import RecordView, RunView, audit_target, record_view, run_view, stored_view

__all__ = ["ScoringApp", "TasksPort"]

V = TypeVar("V", RecordView, RunView)

MAX_PAGE = 5000
CATEGORY_ORDER = {"department": 0, "township": 1}


class ScoringApp:
    """Everything the scoring service does."""

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
        self.workflow = Workflow(self)

    # ---- schemes

    def scheme_by_sha(self, sha: str) -> Scheme:
        if not sha or sha == self.scheme.sha256:
            return self.scheme
        with self.db.read() as conn:
            text = repo.scheme_text(conn, sha)
        if text is None:
            raise NotFound(f"scheme {sha} is not stored")
        return load_scheme(text)

    # ---- records

    def _check_references(
        self,
        conn: Connection,
        batch: list[Record],
        *,
        pending_units: set[str],
        pending_tasks: dict[str, tuple[str, list[str]]],
    ) -> None:
        """Units, tasks and error reports that records point at exist (stored or earlier in the batch)."""
        task_ids = referenced_tasks(batch, pending=pending_tasks)
        task_units = {**self.tasks.lookup(task_ids), **pending_tasks} if task_ids or pending_tasks else {}
        check_references(
            batch,
            known_units={u for u, _, _ in self.tasks.units()} | pending_units,
            task_units=task_units,
            stored=self._stored_units(conn, referenced(batch)),
        )

    @staticmethod
    def _stored_units(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(kind, id) → unit of the stored records among keys."""
        return {
            (kind, rid): unit
            for kind in APPEAL_TARGETS
            for rid, unit in repo.record_units(conn, kind=kind, ids=[i for k, i in keys if k == kind]).items()
        }

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
        batch: list[Record] = []
        for line, text in lines:
            obj = loads_line(text, line=line)
            if not isinstance(obj, dict):
                raise InvalidArgument([FieldViolation(f"line {line}: json", "must be a JSON object")])
            batch.append(parse_record(str(obj.get("type")), obj, self.scheme, line=line))

        def work(conn: Connection) -> tuple[Counter[str], Counter[str]]:
            self._check_references(conn, batch, pending_units=pending_units, pending_tasks=pending_tasks)
            stored = repo.stored_payloads(conn, [(r.kind, r.rid) for r in batch])
            fresh, replaced, created, unchanged = sort_batch(batch, stored)
            units_in_batch = {(r.kind, r.rid): r.unit for r in batch if r.kind in APPEAL_TARGETS}
            stamp = self.clock()
            rows = []
            for record in fresh.values():
                unit = record.unit
                if record.kind == "appeal":
                    # An appeal belongs to the unit of the record it contests.
                    key = appealed(record.payload)
                    unit = units_in_batch.get(key) or self._appealed_of(conn, key)[0]
                rows.append(record_row(record, unit=unit, stamp=stamp))
            if validate_only:
                conn.rollback()
            elif stage_as:
                staging.stage(conn, import_id=stage_as, rows=rows)
                target = f"staged {stage_as}: created={dict(created)}"
                self.audit.changed(conn, actor=actor, method="ImportRecords", target=target)
            else:
                for row in rows:
                    if (row["kind"], row["rid"]) in replaced:
                        repo.replace_voided(conn, row)
                repo.insert_records(conn, [r for r in rows if (r["kind"], r["rid"]) not in replaced])
                target = f"created={dict(created)}"
                self.audit.changed(conn, actor=actor, method="ImportRecords", target=target)
            return created, unchanged

        return staging.exclusive(self.db, import_id=stage_as, work=work, validate_only=validate_only)

    @staticmethod
    def _appealed_of(conn: Connection, key: tuple[str, str]) -> tuple[str, int]:
        """(unit, year) of the record an appeal contests."""
        found = repo.record_unit_and_year(conn, kind=key[0], rid=key[1])
        if found is None:
            raise NotFound(f"{key[0]} {key[1]!r} does not exist")
        return found

    def create_record(
        self, *, actor: Identity, request_id: str, kind: str, fields: dict[str, Any]
    ) -> RecordView:
        """One record from a person: the office records anything; a department only appeals its reports."""
        if kind not in RECORD_KINDS:
            raise InvalidArgument("kind", f"must be one of {', '.join(RECORD_KINDS)}")
        problem = check_value(fields)
        if problem:
            raise InvalidArgument("fields", problem)
        record = parse_record(kind, {**fields, "type": kind}, self.scheme)
        if actor.is_department:
            if kind != "appeal":
                raise PermissionDenied(f"a department may only file appeals, not {kind} records")
            if record.payload.get("upheld") is not None:
                raise PermissionDenied(
                    "a department files an appeal; the office decides whether it is upheld"
                )

        def work(conn: Connection) -> RecordView:
            # References first: an appeal of a report that does not exist is bad input, not a missing one.
            self._check_references(conn, [record], pending_units=set(), pending_tasks={})
            staging.lock(conn)
            staging.refuse_staged(conn, [(kind, record.rid)])
            unit = record.unit
            if kind == "appeal":
                key = appealed(record.payload)
                unit, year = self._appealed_of(conn, key)
                self.workflow.check_appeal(conn, actor=actor, unit=unit, year=year)
            stored = repo.stored_payloads(conn, [(kind, record.rid)]).get((kind, record.rid))
            row = record_row(record, unit=unit, stamp=self.clock())
            if stored is None:
                repo.insert_records(conn, [row])
            elif stored[1]:
                repo.replace_voided(conn, row)
            elif stored[0] != record.canonical():
                raise InvalidArgument(
                    "id",
                    f"{kind} {record.rid!r} is already recorded with other values; "
                    "void it first to record it anew",
                )
            if kind == "appeal" and (stored is None or stored[1]):
                self.workflow.appeal_filed(conn, actor=actor, rid=record.rid, reason=record.payload["reason"])
            return self._get_record(conn, kind, record.rid)

        request = {"kind": kind, "fields": fields}
        return self._once(actor, request_id, "CreateRecord", request, work, RecordView)

    def _get_record(self, conn: Connection, kind: str, rid: str) -> RecordView:
        row = repo.get_record(conn, kind=kind, rid=rid)
        if row is None:
            raise NotFound(f"{kind} {rid!r} does not exist")
        return record_view(row, self.tz)

    def _once(
        self,
        actor: Identity,
        request_id: str,
        method: str,
        request: dict[str, Any],
        work: Callable[[Connection], V],
        view: type[V],
    ) -> V:
        """work once per caller, method and request id (AIP-155): a retry gets the first view back."""
        return idempotent(
            self.db,
            requests,
            caller=actor,
            method=method,
            request_id=request_id,
            request=request,
            work=self.audit.audited(work, actor=actor, method=method, target=audit_target),
            encode=lambda v: json.dumps(v.__dict__, ensure_ascii=False).encode(),
            decode=lambda b: stored_view(view, json.loads(b)),
        )

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
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not read the records of unit {unit}")
            unit = actor.unit
        if kind and kind not in RECORD_KINDS:
            raise InvalidArgument("kind", f"must be one of {', '.join(RECORD_KINDS)}")
        check_year(year)
        size = ranges.page_size(page_size, default=200, maximum=MAX_PAGE)
        after = ranges.seq_token(page_token)
        with self.db.read() as conn:
            rows = repo.list_records(
                conn,
                kind=kind,
                unit=unit,
                year=year,
                include_voided=include_voided,
                after=after,
                limit=size + 1,
            )
        more = len(rows) > size
        rows = rows[:size]
        return [record_view(r, self.tz) for r in rows], str(rows[-1].seq) if more and rows else ""

    def void_record(
        self, *, actor: Identity, request_id: str, kind: str, rid: str, reason: str
    ) -> RecordView:
        if not reason.strip():
            raise InvalidArgument("reason", "voiding a record needs a reason")
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
        check_id("id", rid, max_len=ID_MAX)

        def work(conn: Connection) -> RecordView:
            view = self._get_record(conn, kind, rid)
            if not view.voided:
                repo.void_record(conn, kind=kind, rid=rid, reason=reason, now=self.clock())
            return self._get_record(conn, kind, rid)

        request = {"kind": kind, "id": rid, "reason": reason}
        return self._once(actor, request_id, "VoidRecord", request, work, RecordView)

    def decide_appeal(
        self, *, actor: Identity, request_id: str, rid: str, upheld: bool, reason: str
    ) -> RecordView:
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
        check_id("id", rid, max_len=ID_MAX)

        def work(conn: Connection) -> RecordView:
            view = self._get_record(conn, "appeal", rid)
            if view.fields.get("upheld") is not None:
                if view.fields["upheld"] != upheld:
                    raise FailedPrecondition(
                        f"appeal {rid} was already decided (upheld={view.fields['upheld']})"
                    )
                return view
            # The decision's reason goes to the appeal's timeline: its fields stay the ledger's (FORMATS.md).
            self.workflow.appeal_decided(conn, actor=actor, rid=rid, upheld=upheld, reason=reason)
            payload = {**view.fields, "upheld": upheld}
            repo.set_payload(
                conn,
                kind="appeal",
                rid=rid,
                payload=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                now=self.clock(),
            )
            return self._get_record(conn, "appeal", rid)

        request = {"id": rid, "upheld": upheld, "reason": reason}
        return self._once(actor, request_id, "DecideAppeal", request, work, RecordView)

    # ---- computing

    def _gather(
        self, *, year: int, as_of: datetime, scheme: Scheme, strict: bool
    ) -> tuple[domain.Inputs, str]:
        def stored() -> list[Any]:
            with self.db.read() as conn:
                return repo.scoring_records(conn)

        return gather(
            self.tasks, stored, scheme=scheme, served=self.scheme, year=year, as_of=as_of, strict=strict
        )

    def in_force(self, scheme: Scheme) -> Scheme:
        """scheme under the holiday notices imported into the ledger (SCORING.md §1)."""
        return scheme.with_notices(self.tasks.notices())

    def compute(
        self, *, year: int, as_of: datetime, scheme: Scheme, strict: bool = True
    ) -> tuple[domain.Assessment, str]:
        """The assessment and its input digest (strict: an applies_to naming nothing known is refused)."""
        scheme = self.in_force(scheme)
        inputs, digest = self._gather(year=year, as_of=as_of, scheme=scheme, strict=strict)
        return domain.score(inputs, scheme, year=year, as_of=as_of), digest

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
        check_year(year, optional=False)
        scheme = load_scheme(scheme_toml, source="scheme_toml") if scheme_toml else self.scheme
        if supersedes:
            check_id("supersedes", supersedes, max_len=ID_MAX)
        cutoff = self.cutoff(year=year, as_of=as_of, scheme=scheme)
        scheme = self.in_force(scheme)

        started = time.perf_counter()
        inputs, digest = self._gather(year=year, as_of=cutoff, scheme=scheme, strict=False)
        assessment = domain.score(inputs, scheme, year=year, as_of=cutoff)
        if not assessment.tasks_counted and not assessment.readings_of_year:
            raise InvalidArgument(
                "year",
                f"{year} 年度没有可考核的内容：截至 {cutoff.isoformat()} 没有计入的任务，也没有该年度的指标值"
                f"（nothing to assess in {year}: no task of {year} is counted by the cutoff "
                f"and no indicator reading is of {year}）",
            )
        # Only then the scheme's applies_to against the units: an empty year is named as such first.
        check_applies_to(scheme, unit_ids=set(inputs.units.ids), categories=set(inputs.units.categories))
        computed = assessment.stored_document()
        seconds = time.perf_counter() - started

        def work(conn: Connection) -> RunView:
            if supersedes:
                old = repo.get_run(conn, supersedes)
                if old is None:
                    raise NotFound(f"run {supersedes!r} does not exist")
                if old.year != year:
                    raise InvalidArgument("supersedes", f"run {supersedes} scores {old.year}, not {year}")
                if old.superseded_by:
                    raise FailedPrecondition(f"run {supersedes} is already superseded by {old.superseded_by}")
            stamp = self.clock()
            repo.store_scheme(
                conn,
                sha256=scheme.sha256,
                scheme_id=scheme.id,
                name=scheme.name,
                year=scheme.year,
                text=scheme.text,
                now=stamp,
            )
            run_id = f"{year}-{repo.count_runs(conn, year=year) + 1:03d}"
            document = {
                "run": run_id,
                "state": "draft",
                **computed,
                "scheme_sha256": scheme.sha256,
                "calendar": calendar_used(scheme, year=year, as_of=cutoff),
            }
            repo.insert_run(
                conn,
                id=run_id,
                state="draft",
                year=year,
                scheme_sha256=scheme.sha256,
                scheme_id=scheme.id,
                as_of=to_epoch(cutoff),
                input_digest=digest,
                supersedes=supersedes,
                superseded_by="",
                created_at=stamp,
                published_at=None,
                finalized_at=None,
                appeal_deadline=None,
                duration_seconds=seconds,
                document=json.dumps(document, ensure_ascii=False),
                version=1,
            )
            if supersedes:
                repo.mark_superseded(conn, run_id=supersedes, by=run_id)
            self.on_run("draft", seconds)
            # What a repeated request gets back is kept without the breakdown: at a prefecture's scale
            # that is hundreds of megabytes, read again from the run when it is asked for.
            return self._run_view(conn, run_id, unit="", breakdown=False)

        for attempt in range(3):
            try:
                request = {"year": year, "as_of": as_of, "scheme": scheme.sha256, "supersedes": supersedes}
                view = self._once(actor, request_id, "CreateRun", request, work, RunView)
                if not breakdown:
                    return view
                with self.db.read() as conn:
                    return self._run_view(conn, view.id, unit="", breakdown=True)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def cutoff(self, *, year: int, as_of: str, scheme: Scheme) -> datetime:
        """The run's as_of: as given, else the earlier of the year's end and now; a year not begun and an
        as_of later than now are refused — nobody is scored on what has not happened (SCORING.md)."""
        now = from_epoch(self.clock(), scheme.tz)
        if now < datetime(year, 1, 1, tzinfo=scheme.tz):
            raise InvalidArgument(
                "year", f"{year} 年度尚未开始（现在是 {now.isoformat()}）：不能考核尚未发生的事"
            )
        if not as_of:
            return min(now, default_as_of(year, scheme))
        cutoff = parse_cutoff(as_of, scheme)
        if cutoff > now:
            raise InvalidArgument(
                "as_of",
                f"考核时点 {cutoff.isoformat()} 晚于现在（{now.isoformat()}）：不能考核尚未发生的事",
            )
        return cutoff

    def _run_view(self, conn: Connection, run_id: str, *, unit: str, breakdown: bool) -> RunView:
        row = repo.get_run(conn, run_id)
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        return run_view(row, self.tz, unit=unit, breakdown=breakdown, with_document=True)

    def get_run(self, *, actor: Identity, run_id: str, year: int, unit: str, breakdown: bool) -> RunView:
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not read the result of unit {unit}")
            unit = actor.unit
        check_year(year)
        with self.db.read() as conn:
            if not run_id:
                if not year:
                    raise InvalidArgument("id", "give a run id or a year")
                run_id = repo.latest_run_id(conn, year=year, published_only=actor.is_department)
                if not run_id:
                    raise NotFound(
                        f"no run of {year} yet" + (" is publicised" if actor.is_department else "")
                    )
            elif year:
                run_year = repo.run_year(conn, run_id)
                if run_year is not None and run_year != year:
                    raise InvalidArgument("year", f"run {run_id} is of {run_year}, not {year}")
            view = self._run_view(conn, run_id, unit=unit, breakdown=breakdown)
        if actor.is_department and view.state == "draft":
            # A department is told what it would be told of a run that does not exist: that a
            # draft is being prepared is the office's to announce.
            raise NotFound(f"run {run_id!r} does not exist")
        return view

    def list_runs(
        self, *, actor: Identity, year: int, page_size: int, page_token: str
    ) -> tuple[list[RunView], str]:
        check_year(year)
        size = ranges.page_size(page_size, default=100, maximum=MAX_PAGE)
        if page_token:
            check_id("page_token", page_token, max_len=ID_MAX)
        with self.db.read() as conn:
            rows = repo.list_runs(
                conn, year=year, published_only=actor.is_department, after=page_token, limit=size + 1
            )
        more = len(rows) > size
        rows = rows[:size]
        views = [run_view(r, self.tz, unit="", breakdown=False, with_document=False) for r in rows]
        return views, rows[-1].id if more and rows else ""

    def publish_run(self, *, actor: Identity, request_id: str, run_id: str, etag: str) -> RunView:
        # The appeal window counts working days under the holiday notices too; asked before the transaction.
        notices = self.tasks.notices()

        def work(conn: Connection) -> RunView:
            row = self._locked(conn, run_id, etag)
            if row.state != "draft":
                raise FailedPrecondition(
                    f"run {run_id} is {row.state}: only a draft can be publicised (公示)"
                )
            if row.superseded_by:
                raise FailedPrecondition(f"run {run_id} is superseded by {row.superseded_by}")
            now = self.clock()
            scheme = self.scheme_by_sha(row.scheme_sha256).with_notices(notices)
            today = from_epoch(now, scheme.tz).date()
            if scheme.appeal_window_working_days:
                last_day = scheme.calendar().add_working_days(today, scheme.appeal_window_working_days)
                deadline = to_epoch(datetime.combine(last_day, dtime(23, 59, 59), tzinfo=scheme.tz))
            else:
                # 0: no window (FORMATS.md [runs]): closed the second before publication, so appeals are
                # refused at once and finalize is not held, even within the same second.
                deadline = now - 1
            # Publishing a correction replaces what was published for the year before it: the earlier
            # publicised or final run is marked superseded (its numbers stay as they were).
            earlier = repo.published_of_year(conn, year=row.year, other_than=row.id)
            if earlier:
                repo.supersede_all(conn, run_ids=earlier, by=row.id)
            values: dict[str, Any] = {"supersedes": row.supersedes or earlier[-1]} if earlier else {}
            self._transition(
                conn, row, state="publicised", published_at=now, appeal_deadline=deadline, **values
            )
            self.on_run("publicised", 0.0)
            return self._run_view(conn, run_id, unit="", breakdown=False)

        request = {"id": run_id, "etag": etag}
        return self._once(actor, request_id, "PublishRun", request, work, RunView)

    def finalize_run(self, *, actor: Identity, request_id: str, run_id: str, etag: str) -> RunView:
        def work(conn: Connection) -> RunView:
            row = self._locked(conn, run_id, etag)
            if row.state != "publicised":
                raise FailedPrecondition(
                    f"run {run_id} is {row.state}: only a publicised run can be finalised (定档)"
                )
            if row.superseded_by:
                raise FailedPrecondition(
                    f"run {run_id} is superseded by {row.superseded_by}: finalise that one"
                )
            scheme = self.scheme_by_sha(row.scheme_sha256)
            interim = finalizing.interim_refusal(run_id=run_id, year=row.year, as_of=row.as_of, scheme=scheme)
            if interim:
                raise FailedPrecondition(interim)
            # Appeals on this year's records and applications nobody has decided hold the run back ...
            held = self.workflow.holds(conn, year=row.year)
            if held:
                raise FailedPrecondition(f"run {run_id} cannot be finalised (定档): {held}")
            # ... and so does the appeal window itself, while departments may still appeal.
            now = self.clock()
            if row.appeal_deadline is not None and now <= row.appeal_deadline:
                raise FailedPrecondition(
                    f"run {run_id} cannot be finalised (定档) before its 公示 appeal window closes at "
                    f"{iso(row.appeal_deadline, self.tz)}"
                )
            # Last, as it asks the tasks service: every report that counted verified, none rejected since.
            unverified = finalizing.ledger_refusal(
                self.tasks,
                run_id=run_id,
                year=row.year,
                as_of=row.as_of,
                scheme=scheme,
                document=row.document,
            )
            if unverified:
                raise FailedPrecondition(unverified)
            self._transition(conn, row, state="final", finalized_at=now)
            self.on_run("final", 0.0)
            return self._run_view(conn, run_id, unit="", breakdown=False)

        request = {"id": run_id, "etag": etag}
        return self._once(actor, request_id, "FinalizeRun", request, work, RunView)

    def _locked(self, conn: Connection, run_id: str, etag: str) -> Any:
        row = repo.get_run(conn, run_id)
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        if etag and etag != f'"{row.version}"':
            raise StaleEtag(f"run {run_id} changed since etag {etag}")
        return row

    def _transition(self, conn: Connection, row: Any, **values: Any) -> None:
        if not repo.transition(conn, run_id=row.id, version=row.version, values=values):
            raise StaleEtag(f"run {row.id} was changed by somebody else at the same time")

    def preview(self, *, actor: Identity, year: int, as_of: str, unit: str) -> dict[str, Any]:
        """A draft computation as of now (or as_of), stored nowhere."""
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not preview unit {unit}")
            unit = actor.unit
        check_year(year)
        now = from_epoch(self.clock(), self.tz)
        year = year or now.year
        cutoff = self.cutoff(year=year, as_of=as_of, scheme=self.scheme)
        assessment, _ = self.compute(year=year, as_of=cutoff, scheme=self.scheme, strict=False)
        document = assessment.document(include_breakdown=True)
        if actor.is_department or (unit and actor.role != INTERNAL_ROLE):
            document = views.department_preview(document, unit)
        elif unit:
            document["units"] = [u for u in document["units"] if u["unit"] == unit]
        return document
