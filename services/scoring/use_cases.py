"""The scoring service's use cases: records, runs (draft → 公示 → 定档), previews."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import Any, Protocol

import numpy as np
from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from services.common import calendar as cal
from services.common.auth import INTERNAL_ROLE, Identity
from services.common.db import Database, idempotent
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SchemeInvalid,
    StaleEtag,
)
from services.common.scheme import Scheme, check_applies_to, load_scheme
from services.common.timeutil import from_epoch, iso, parse_date, parse_instant, to_epoch
from services.scoring import domain
from services.scoring.records import KINDS, Record, parse_record
from services.scoring.storage.tables import records, requests, runs, schemes

MAX_PAGE = 5000
CATEGORY_ORDER = {"department": 0, "township": 1}


class TasksPort(Protocol):
    """What scoring needs from the tasks service."""

    def units(self) -> list[tuple[str, str, str]]: ...

    def facts(
        self, *, due_from: int, due_before: int, as_of: int, assigned_from: int = 0, assigned_before: int = 0
    ) -> dict[str, list[Any]]: ...

    def lookup(self, ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]: ...


@dataclass
class RunView:
    id: str
    state: str
    year: int
    scheme: str
    scheme_sha256: str
    as_of: str
    input_digest: str
    supersedes: str
    superseded_by: str
    created_at: str
    published_at: str
    finalized_at: str
    appeal_deadline: str
    document_json: str
    etag: str
    duration_seconds: float


@dataclass
class RecordView:
    kind: str
    id: str
    unit: str
    fields: dict[str, Any]
    voided: bool
    void_reason: str
    created_at: str
    etag: str


@dataclass
class _Inputs:
    units: list[tuple[str, str, str]]
    tasks: domain.TaskRows
    rows: list[Any] = field(default_factory=list)


class ScoringApp:
    """Everything the scoring service does."""

    def __init__(
        self,
        db: Database,
        scheme: Scheme,
        tasks: TasksPort,
        on_run: Callable[[str, float], None] | None = None,
    ) -> None:
        self.db = db
        self.scheme = scheme
        self.tasks = tasks
        self.tz = scheme.tz
        self.on_run = on_run or (lambda state, seconds: None)

    # ---- schemes

    def scheme_by_sha(self, sha: str) -> Scheme:
        if not sha or sha == self.scheme.sha256:
            return self.scheme
        with self.db.read() as conn:
            text = conn.execute(select(schemes.c.text).where(schemes.c.sha256 == sha)).scalar()
        if text is None:
            raise NotFound(f"scheme {sha} is not stored")
        return load_scheme(text)

    def _store_scheme(self, conn: Any, scheme: Scheme) -> None:
        exists = conn.execute(select(schemes.c.sha256).where(schemes.c.sha256 == scheme.sha256)).scalar()
        if exists is None:
            conn.execute(
                schemes.insert().values(
                    sha256=scheme.sha256,
                    id=scheme.id,
                    name=scheme.name,
                    year=scheme.year,
                    text=scheme.text,
                    created_at=int(time.time()),
                )
            )

    # ---- records

    def _record_view(self, row: Any) -> RecordView:
        return RecordView(
            kind=row.kind,
            id=row.rid,
            unit=row.unit,
            fields=json.loads(row.payload),
            voided=bool(row.voided),
            void_reason=row.void_reason,
            created_at=iso(row.created_at, self.tz),
            etag=f'"{row.version}"',
        )

    def _check_references(
        self,
        conn: Any,
        batch: list[Record],
        *,
        pending_units: set[str],
        pending_tasks: dict[str, tuple[str, list[str]]],
    ) -> None:
        """Units, tasks and error reports that records point at exist (stored or earlier in the batch)."""
        known_units = {u for u, _, _ in self.tasks.units()} | pending_units
        task_ids = [
            r.payload["target"]
            for r in batch
            if r.kind == "tolerance"
            and r.payload["target_type"] == "task"
            and r.payload["target"] not in pending_tasks
        ]
        task_units = {**self.tasks.lookup(task_ids), **pending_tasks} if task_ids or pending_tasks else {}
        report_ids = {
            r.payload["target"]
            for r in batch
            if r.kind == "tolerance" and r.payload["target_type"] == "error_report"
        } | {r.payload["error_report"] for r in batch if r.kind == "appeal"}
        stored_reports: dict[str, str] = {}
        for part in _chunks(sorted(report_ids)):
            for row in conn.execute(
                select(records.c.rid, records.c.unit).where(
                    and_(records.c.kind == "error_report", records.c.rid.in_(part))
                )
            ):
                stored_reports[row.rid] = row.unit
        batch_reports: dict[str, tuple[str, int]] = {}
        for record in batch:
            where = f"line {record.line}: " if record.line else ""
            if record.unit and record.unit not in known_units:
                raise InvalidArgument(
                    [FieldViolation(f"{where}unit", f"unit {record.unit!r} does not exist")]
                )
            if record.kind == "error_report":
                batch_reports.setdefault(record.rid, (record.unit, record.line))
            if record.kind == "tolerance":
                target = record.payload["target"]
                if record.payload["target_type"] == "task":
                    if target not in task_units:
                        raise InvalidArgument(
                            [FieldViolation(f"{where}target", f"task {target!r} does not exist")]
                        )
                    lead, co = task_units[target]
                    if record.unit != lead and record.unit not in co:
                        raise InvalidArgument(
                            [
                                FieldViolation(
                                    f"{where}target", f"task {target!r} is not a task of unit {record.unit!r}"
                                )
                            ]
                        )
                else:
                    owner = stored_reports.get(target) or batch_reports.get(target, ("", 0))[0]
                    if not owner:
                        raise InvalidArgument(
                            [
                                FieldViolation(
                                    f"{where}target",
                                    f"error report {target!r} does not exist (stored or earlier)",
                                )
                            ]
                        )
                    if owner != record.unit:
                        raise InvalidArgument(
                            [
                                FieldViolation(
                                    f"{where}target",
                                    f"error report {target!r} concerns {owner}, not {record.unit}",
                                )
                            ]
                        )
            if record.kind == "appeal":
                target = record.payload["error_report"]
                owner = stored_reports.get(target) or batch_reports.get(target, ("", 0))[0]
                if not owner:
                    raise InvalidArgument(
                        [
                            FieldViolation(
                                f"{where}error_report",
                                f"error report {target!r} does not exist (stored or earlier)",
                            )
                        ]
                    )

    def import_records(
        self,
        lines: list[tuple[int, str]],
        *,
        validate_only: bool,
        pending_units: set[str],
        pending_tasks: dict[str, tuple[str, list[str]]],
    ) -> tuple[Counter[str], Counter[str]]:
        """All or nothing; a record already stored identically is left alone, a changed one refused."""
        batch: list[Record] = []
        for line, text in lines:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidArgument(
                    [FieldViolation(f"line {line}: json", f"is not valid JSON ({exc.msg})")]
                ) from None
            if not isinstance(obj, dict):
                raise InvalidArgument([FieldViolation(f"line {line}: json", "must be a JSON object")])
            batch.append(parse_record(str(obj.get("type")), obj, self.scheme, line=line))
        created: Counter[str] = Counter()
        unchanged: Counter[str] = Counter()
        with self.db.write() as conn:
            self._check_references(conn, batch, pending_units=pending_units, pending_tasks=pending_tasks)
            stored = self._stored(conn, batch)
            fresh: dict[tuple[str, str], Record] = {}
            replaced: set[tuple[str, str]] = set()
            for record in batch:
                key = (record.kind, record.rid)
                if key in stored and stored[key][1] and key not in fresh:
                    # A voided record may be recorded anew under its id: that is how a reading is corrected.
                    replaced.add(key)
                    fresh[key] = record
                    created[record.kind] += 1
                    continue
                before = (
                    stored[key][0] if key in stored else (fresh[key].canonical() if key in fresh else None)
                )
                if before is not None:
                    if before != record.canonical():
                        raise InvalidArgument(
                            [
                                FieldViolation(
                                    f"line {record.line}: id",
                                    f"{record.kind} {record.rid!r} is already recorded with "
                                    "other values; a changed record under a known id is refused",
                                )
                            ]
                        )
                    unchanged[record.kind] += 1
                    continue
                fresh[key] = record
                created[record.kind] += 1
            units_of_reports = {r.rid: r.unit for r in batch if r.kind == "error_report"}
            rows = []
            stamp = int(time.time())
            for record in fresh.values():
                unit = record.unit
                if record.kind == "appeal":
                    unit = units_of_reports.get(record.payload["error_report"]) or self._report_unit(
                        conn, record.payload["error_report"]
                    )
                rows.append(
                    {
                        "kind": record.kind,
                        "rid": record.rid,
                        "unit": unit,
                        "year": record.year,
                        "payload": record.canonical(),
                        "voided": False,
                        "void_reason": "",
                        "created_at": stamp,
                        "updated_at": stamp,
                        "version": 1,
                    }
                )
            if validate_only:
                conn.rollback()
                return created, unchanged
            for row in [r for r in rows if (r["kind"], r["rid"]) in replaced]:
                self._replace_voided(conn, row)
            rows = [r for r in rows if (r["kind"], r["rid"]) not in replaced]
            if rows:
                conn.execute(records.insert(), rows)
        return created, unchanged

    @staticmethod
    def _replace_voided(conn: Any, row: dict[str, Any]) -> None:
        conn.execute(
            update(records)
            .where(and_(records.c.kind == row["kind"], records.c.rid == row["rid"]))
            .values(
                unit=row["unit"],
                year=row["year"],
                payload=row["payload"],
                voided=False,
                void_reason="",
                updated_at=row["updated_at"],
                version=records.c.version + 1,
            )
        )

    def _report_unit(self, conn: Any, report_id: str) -> str:
        unit = conn.execute(
            select(records.c.unit).where(and_(records.c.kind == "error_report", records.c.rid == report_id))
        ).scalar()
        if unit is None:
            raise NotFound(f"error report {report_id!r} does not exist")
        return str(unit)

    def _stored(self, conn: Any, batch: list[Record]) -> dict[tuple[str, str], tuple[str, bool]]:
        """(kind, id) → (canonical payload, voided) of the stored records among the batch."""
        found: dict[tuple[str, str], tuple[str, bool]] = {}
        by_kind: dict[str, list[str]] = {}
        for record in batch:
            by_kind.setdefault(record.kind, []).append(record.rid)
        for kind, ids in by_kind.items():
            for part in _chunks(sorted(set(ids))):
                for row in conn.execute(
                    select(records.c.rid, records.c.payload, records.c.voided).where(
                        and_(records.c.kind == kind, records.c.rid.in_(part))
                    )
                ):
                    found[(kind, row.rid)] = (row.payload, bool(row.voided))
        return found

    def create_record(
        self, *, actor: Identity, request_id: str, kind: str, fields: dict[str, Any]
    ) -> RecordView:
        """One record from a person: the office records anything; a department only appeals its own reports."""
        if kind not in KINDS:
            raise InvalidArgument("kind", f"must be one of {', '.join(KINDS)}")
        record = parse_record(kind, {**fields, "type": kind}, self.scheme)
        if actor.is_department:
            if kind != "appeal":
                raise PermissionDenied(f"a department may only file appeals, not {kind} records")
            if record.payload.get("upheld") is not None:
                raise PermissionDenied(
                    "a department files an appeal; the office decides whether it is upheld"
                )

        def work(conn: Any) -> RecordView:
            # References first: an appeal of a report that does not exist is bad input, not a missing resource.
            self._check_references(conn, [record], pending_units=set(), pending_tasks={})
            unit = record.unit
            if kind == "appeal":
                unit = self._report_unit(conn, record.payload["error_report"])
                if actor.is_department:
                    if unit != actor.unit:
                        raise PermissionDenied(
                            f"unit {actor.unit} may not appeal an error report of unit {unit}"
                        )
                    self._check_appeal_window(conn, record)
            stored = self._stored(conn, [record]).get((kind, record.rid))
            stamp = int(time.time())
            row = {
                "kind": kind,
                "rid": record.rid,
                "unit": unit,
                "year": record.year,
                "payload": record.canonical(),
                "voided": False,
                "void_reason": "",
                "created_at": stamp,
                "updated_at": stamp,
                "version": 1,
            }
            if stored is None:
                conn.execute(records.insert().values(**row))
            elif stored[1]:
                self._replace_voided(conn, row)
            elif stored[0] != record.canonical():
                raise InvalidArgument(
                    "id",
                    f"{kind} {record.rid!r} is already recorded with other values; "
                    "void it first to record it anew",
                )
            return self._get_record(conn, kind, record.rid)

        return self._idempotent_record(request_id, "CreateRecord", work)

    def _check_appeal_window(self, conn: Any, record: Record) -> None:
        year = conn.execute(
            select(records.c.year).where(
                and_(records.c.kind == "error_report", records.c.rid == record.payload["error_report"])
            )
        ).scalar()
        now = int(time.time())
        open_run = conn.execute(
            select(runs.c.id).where(
                and_(
                    runs.c.year == year,
                    runs.c.state == "publicised",
                    runs.c.superseded_by == "",
                    runs.c.appeal_deadline >= now,
                )
            )
        ).first()
        if open_run is None:
            raise FailedPrecondition(f"no run of {year} is in its 公示 appeal window: appeals are closed")

    def _get_record(self, conn: Any, kind: str, rid: str) -> RecordView:
        row = conn.execute(select(records).where(and_(records.c.kind == kind, records.c.rid == rid))).first()
        if row is None:
            raise NotFound(f"{kind} {rid!r} does not exist")
        return self._record_view(row)

    def _idempotent_record(
        self, request_id: str, method: str, work: Callable[[Any], RecordView]
    ) -> RecordView:
        def encode(view: RecordView) -> bytes:
            return json.dumps(view.__dict__, ensure_ascii=False).encode()

        result: RecordView = idempotent(
            self.db,
            requests,
            request_id=request_id,
            method=method,
            work=work,
            encode=encode,
            decode=lambda b: RecordView(**json.loads(b)),
        )
        return result

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
        if kind and kind not in KINDS:
            raise InvalidArgument("kind", f"must be one of {', '.join(KINDS)}")
        size = min(page_size or 200, MAX_PAGE)
        after = int(page_token) if page_token.isdigit() else 0
        query = select(records).where(records.c.seq > after)
        if kind:
            query = query.where(records.c.kind == kind)
        if unit:
            query = query.where(records.c.unit == unit)
        if year:
            query = query.where(records.c.year == year)
        if not include_voided:
            query = query.where(records.c.voided.is_(False))
        with self.db.read() as conn:
            rows = list(conn.execute(query.order_by(records.c.seq).limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        return [self._record_view(r) for r in rows], str(rows[-1].seq) if more and rows else ""

    def void_record(self, *, request_id: str, kind: str, rid: str, reason: str) -> RecordView:
        if not reason.strip():
            raise InvalidArgument("reason", "voiding a record needs a reason")

        def work(conn: Any) -> RecordView:
            view = self._get_record(conn, kind, rid)
            if not view.voided:
                conn.execute(
                    update(records)
                    .where(and_(records.c.kind == kind, records.c.rid == rid))
                    .values(
                        voided=True,
                        void_reason=reason,
                        updated_at=int(time.time()),
                        version=records.c.version + 1,
                    )
                )
            return self._get_record(conn, kind, rid)

        return self._idempotent_record(request_id, "VoidRecord", work)

    def decide_appeal(self, *, request_id: str, rid: str, upheld: bool, reason: str) -> RecordView:
        def work(conn: Any) -> RecordView:
            view = self._get_record(conn, "appeal", rid)
            if view.fields.get("upheld") is not None and view.fields["upheld"] != upheld:
                raise FailedPrecondition(f"appeal {rid} was already decided (upheld={view.fields['upheld']})")
            payload = {**view.fields, "upheld": upheld, "decision_reason": reason}
            conn.execute(
                update(records)
                .where(and_(records.c.kind == "appeal", records.c.rid == rid))
                .values(
                    payload=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                    updated_at=int(time.time()),
                    version=records.c.version + 1,
                )
            )
            return self._get_record(conn, "appeal", rid)

        return self._idempotent_record(request_id, "DecideAppeal", work)

    # ---- computing

    @staticmethod
    def cutoff(as_of: str, scheme: Scheme) -> datetime:
        """An instant: with an offset as written; without one, local time of the scheme's zone (SCORING.md
        reads the cutoff locally); a plain date is the end of that day."""
        if len(as_of) == 10:
            day = parse_date(as_of, field="as_of")
            return datetime.combine(day, dtime(23, 59, 59), tzinfo=scheme.tz)
        try:
            naive = datetime.fromisoformat(as_of)
        except ValueError:
            naive = None
        if naive is not None and naive.tzinfo is None:
            return parse_instant(naive.replace(tzinfo=scheme.tz).isoformat(), field="as_of")
        return parse_instant(as_of, field="as_of")

    def default_as_of(self, year: int, scheme: Scheme) -> datetime:
        return datetime.combine(datetime(year, 12, 31).date(), dtime(23, 59, 59), tzinfo=scheme.tz)

    def _gather(
        self, *, year: int, as_of: datetime, scheme: Scheme, strict: bool
    ) -> tuple[domain.Inputs, str]:
        """Every input of a run, as columns, and a digest of them all."""
        # Departments, then townships, then any other category: the order the office reads its tables in.
        unit_rows = sorted(
            self.tasks.units(), key=lambda u: (CATEGORY_ORDER.get(u[2], len(CATEGORY_ORDER)), u[2], u[0])
        )
        start = to_epoch(datetime(year, 1, 1, tzinfo=scheme.tz))
        end = to_epoch(datetime(year + 1, 1, 1, tzinfo=scheme.tz))
        unit_index = {u: i for i, (u, _, _) in enumerate(unit_rows)}
        if scheme.sha256 == self.scheme.sha256:
            columns = self.tasks.facts(due_from=start, due_before=end, as_of=to_epoch(as_of))
        else:
            # The tasks service computed due instants under the scheme it serves; this run's scheme may
            # count other holidays or limits, so every computed one that can fall in the year is redone.
            columns = self.tasks.facts(
                due_from=start,
                due_before=end,
                as_of=to_epoch(as_of),
                assigned_from=start - longest_limit_seconds(scheme),
                assigned_before=end,
            )
            recompute_dues(columns, scheme)
        facts = task_rows(columns, unit_index)
        with self.db.read() as conn:
            rows = list(
                conn.execute(
                    select(
                        records.c.kind, records.c.rid, records.c.unit, records.c.payload, records.c.voided
                    ).order_by(records.c.seq)
                )
            )
        inputs = build_inputs(unit_rows, unit_index, facts, rows)
        digest = hashlib.sha256()
        digest.update(
            json.dumps([unit_rows, year, to_epoch(as_of), scheme.sha256], ensure_ascii=False).encode()
        )
        digest.update("\x1f".join(facts.task_id.tolist()).encode())
        digest.update("\x1f".join(facts.priorities(np.arange(len(facts)))).encode())
        for column in (
            facts.unit,
            facts.is_lead,
            facts.assigned_at,
            facts.due_at,
            facts.reported_at,
            facts.cancelled_at,
        ):
            digest.update(np.ascontiguousarray(column, dtype="<i8").tobytes())
        for row in rows:
            digest.update(
                json.dumps(
                    [row.kind, row.rid, row.unit, row.payload, bool(row.voided)], ensure_ascii=False
                ).encode()
            )
        if strict:
            check_applies_to(scheme, unit_ids=set(unit_index), categories={c for _, _, c in unit_rows})
        return inputs, digest.hexdigest()

    def compute(
        self, *, year: int, as_of: datetime, scheme: Scheme, strict: bool = True
    ) -> tuple[dict[str, Any], str]:
        """The result document and the input digest; strict (for runs) refuses an applies_to entry
        that names no unit and no category, where a live preview just lets it apply to nobody."""
        inputs, digest = self._gather(year=year, as_of=as_of, scheme=scheme, strict=strict)
        document = domain.score(inputs, scheme, year=year, as_of=as_of).document(include_breakdown=True)
        return document, digest

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
        scheme = load_scheme(scheme_toml, source="scheme_toml") if scheme_toml else self.scheme
        if not 1990 <= year <= 2100:
            raise InvalidArgument("year", "must lie between 1990 and 2100")
        cutoff = self.cutoff(as_of, scheme) if as_of else self.default_as_of(year, scheme)

        started = time.perf_counter()
        computed, digest = self.compute(year=year, as_of=cutoff, scheme=scheme)
        seconds = time.perf_counter() - started

        def work(conn: Any) -> RunView:
            if supersedes:
                old = conn.execute(select(runs).where(runs.c.id == supersedes)).first()
                if old is None:
                    raise NotFound(f"run {supersedes!r} does not exist")
                if old.year != year:
                    raise InvalidArgument("supersedes", f"run {supersedes} scores {old.year}, not {year}")
                if old.superseded_by:
                    raise FailedPrecondition(f"run {supersedes} is already superseded by {old.superseded_by}")
            self._store_scheme(conn, scheme)
            count = (
                conn.execute(select(func.count()).select_from(runs).where(runs.c.year == year)).scalar() or 0
            )
            run_id = f"{year}-{count + 1:03d}"
            document = {"run": run_id, "state": "draft", **computed, "scheme_sha256": scheme.sha256}
            stamp = int(time.time())
            conn.execute(
                runs.insert().values(
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
            )
            if supersedes:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == supersedes)
                    .values(superseded_by=run_id, version=runs.c.version + 1)
                )
            self.on_run("draft", seconds)
            # What a repeated request gets back is kept without the breakdown: at a prefecture's scale
            # that is hundreds of megabytes, read again from the run when it is asked for.
            return self._run_view(conn, run_id, unit="", breakdown=False)

        for attempt in range(3):
            try:
                view = self._idempotent_run(request_id, "CreateRun", work)
                if not breakdown:
                    return view
                with self.db.read() as conn:
                    return self._run_view(conn, view.id, unit="", breakdown=True)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _idempotent_run(self, request_id: str, method: str, work: Callable[[Any], RunView]) -> RunView:
        result: RunView = idempotent(
            self.db,
            requests,
            request_id=request_id,
            method=method,
            work=work,
            encode=lambda v: json.dumps(v.__dict__, ensure_ascii=False).encode(),
            decode=lambda b: RunView(**json.loads(b)),
        )
        return result

    def _run_view(self, conn: Any, run_id: str, *, unit: str, breakdown: bool) -> RunView:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        return self._view_of(row, unit=unit, breakdown=breakdown, with_document=True)

    def _view_of(self, row: Any, *, unit: str, breakdown: bool, with_document: bool) -> RunView:
        text = ""
        if with_document:
            document = json.loads(row.document)
            document["state"] = row.state
            if unit:
                document["units"] = [u for u in document["units"] if u["unit"] == unit]
                if not document["units"]:
                    raise NotFound(f"run {row.id} has no result for unit {unit!r}")
            if not breakdown:
                for entry in document["units"]:
                    entry.pop("breakdown", None)
            text = json.dumps(document, ensure_ascii=False)
        return RunView(
            id=row.id,
            state=row.state,
            year=row.year,
            scheme=row.scheme_id,
            scheme_sha256=row.scheme_sha256,
            as_of=iso(row.as_of, self.tz),
            input_digest=row.input_digest,
            supersedes=row.supersedes,
            superseded_by=row.superseded_by,
            created_at=iso(row.created_at, self.tz),
            published_at=iso(row.published_at, self.tz),
            finalized_at=iso(row.finalized_at, self.tz),
            appeal_deadline=iso(row.appeal_deadline, self.tz),
            document_json=text,
            etag=f'"{row.version}"',
            duration_seconds=float(row.duration_seconds),
        )

    def get_run(self, *, actor: Identity, run_id: str, year: int, unit: str, breakdown: bool) -> RunView:
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not read the result of unit {unit}")
            unit = actor.unit
        with self.db.read() as conn:
            if not run_id:
                if not year:
                    raise InvalidArgument("id", "give a run id or a year")
                query = select(runs.c.id).where(runs.c.year == year)
                if actor.is_department:
                    query = query.where(runs.c.state.in_(("publicised", "final")))
                run_id = (
                    conn.execute(query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(1)).scalar()
                    or ""
                )
                if not run_id:
                    raise NotFound(
                        f"no run of {year} yet" + (" is publicised" if actor.is_department else "")
                    )
            elif year:
                run_year = conn.execute(select(runs.c.year).where(runs.c.id == run_id)).scalar()
                if run_year is not None and run_year != year:
                    raise InvalidArgument("year", f"run {run_id} is of {run_year}, not {year}")
            view = self._run_view(conn, run_id, unit=unit, breakdown=breakdown)
        if actor.is_department and view.state == "draft":
            raise PermissionDenied(
                f"run {run_id} is a draft: departments see their result once it is publicised"
            )
        return view

    def list_runs(
        self, *, actor: Identity, year: int, page_size: int, page_token: str
    ) -> tuple[list[RunView], str]:
        size = min(page_size or 100, MAX_PAGE)
        query = select(runs)
        if year:
            query = query.where(runs.c.year == year)
        if actor.is_department:
            query = query.where(runs.c.state.in_(("publicised", "final")))
        if page_token:
            query = query.where(runs.c.id > page_token)
        with self.db.read() as conn:
            rows = list(conn.execute(query.order_by(runs.c.id).limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        views = [self._view_of(r, unit="", breakdown=False, with_document=False) for r in rows]
        return views, rows[-1].id if more and rows else ""

    def publish_run(self, *, request_id: str, run_id: str, etag: str) -> RunView:
        def work(conn: Any) -> RunView:
            row = self._locked(conn, run_id, etag)
            if row.state != "draft":
                raise FailedPrecondition(
                    f"run {run_id} is {row.state}: only a draft can be publicised (公示)"
                )
            if row.superseded_by:
                raise FailedPrecondition(f"run {run_id} is superseded by {row.superseded_by}")
            now = int(time.time())
            scheme = self.scheme_by_sha(row.scheme_sha256)
            today = from_epoch(now, scheme.tz).date()
            last_day = scheme.calendar().add_working_days(today, max(1, scheme.appeal_window_working_days))
            deadline = to_epoch(datetime.combine(last_day, dtime(23, 59, 59), tzinfo=scheme.tz))
            # Publishing a correction replaces what was published for the year before it: the earlier
            # publicised or final run is marked superseded (its numbers stay as they were).
            earlier = (
                conn.execute(
                    select(runs.c.id)
                    .where(
                        runs.c.year == row.year,
                        runs.c.id != row.id,
                        runs.c.superseded_by == "",
                        runs.c.state.in_(("publicised", "final")),
                    )
                    .order_by(runs.c.created_at, runs.c.id)
                )
                .scalars()
                .all()
            )
            if earlier:
                conn.execute(update(runs).where(runs.c.id.in_(earlier)).values(superseded_by=row.id))
            values: dict[str, Any] = {"supersedes": row.supersedes or earlier[-1]} if earlier else {}
            self._transition(
                conn, row, state="publicised", published_at=now, appeal_deadline=deadline, **values
            )
            self.on_run("publicised", 0.0)
            return self._run_view(conn, run_id, unit="", breakdown=False)

        return self._idempotent_run(request_id, "PublishRun", work)

    def finalize_run(self, *, request_id: str, run_id: str, etag: str) -> RunView:
        def work(conn: Any) -> RunView:
            row = self._locked(conn, run_id, etag)
            if row.state != "publicised":
                raise FailedPrecondition(
                    f"run {run_id} is {row.state}: only a publicised run can be finalised (定档)"
                )
            if row.superseded_by:
                raise FailedPrecondition(
                    f"run {run_id} is superseded by {row.superseded_by}: finalise that one"
                )
            pending = conn.execute(
                select(records.c.rid, records.c.payload).where(
                    and_(records.c.kind == "appeal", records.c.voided.is_(False))
                )
            ).all()
            undecided = {r.rid: json.loads(r.payload) for r in pending}
            reports = {p["error_report"] for p in undecided.values() if p.get("upheld") is None}
            # Only appeals against this year's error reports hold this year's run back.
            of_year = set()
            for part in _chunks(sorted(reports)):
                of_year |= set(
                    conn.execute(
                        select(records.c.rid).where(
                            and_(
                                records.c.kind == "error_report",
                                records.c.rid.in_(part),
                                records.c.year == row.year,
                            )
                        )
                    ).scalars()
                )
            open_appeals = [
                rid
                for rid, p in undecided.items()
                if p.get("upheld") is None and p["error_report"] in of_year
            ]
            if open_appeals:
                raise FailedPrecondition("appeals still undecided: " + ", ".join(sorted(open_appeals)))
            self._transition(conn, row, state="final", finalized_at=int(time.time()))
            self.on_run("final", 0.0)
            return self._run_view(conn, run_id, unit="", breakdown=False)

        return self._idempotent_run(request_id, "FinalizeRun", work)

    def _locked(self, conn: Any, run_id: str, etag: str) -> Any:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        if etag and etag != f'"{row.version}"':
            raise StaleEtag(f"run {run_id} changed since etag {etag}")
        return row

    def _transition(self, conn: Any, row: Any, **values: Any) -> None:
        result = conn.execute(
            update(runs)
            .where(and_(runs.c.id == row.id, runs.c.version == row.version))
            .values(version=row.version + 1, **values)
        )
        if result.rowcount != 1:
            raise StaleEtag(f"run {row.id} was changed by somebody else at the same time")

    def preview(self, *, actor: Identity, year: int, as_of: str, unit: str) -> dict[str, Any]:
        """A draft computation as of now (or as_of), stored nowhere."""
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not preview unit {unit}")
            unit = actor.unit
        now = datetime.now(self.tz).replace(microsecond=0)
        year = year or now.year
        cutoff = self.cutoff(as_of, self.scheme) if as_of else min(now, self.default_as_of(year, self.scheme))
        document, _ = self.compute(year=year, as_of=cutoff, scheme=self.scheme, strict=False)
        if actor.is_department or (unit and actor.role != INTERNAL_ROLE):
            document = _department_preview(document, unit)
        elif unit:
            document["units"] = [u for u in document["units"] if u["unit"] == unit]
        return document

    def indicator_values(self) -> list[tuple[str, str, float]]:
        """(unit, metric, annual value so far) for the scheme's year — what Prometheus watches."""
        document, _ = self.compute(
            year=self.scheme.year,
            as_of=min(datetime.now(self.tz), self.default_as_of(self.scheme.year, self.scheme)),
            scheme=self.scheme,
            strict=False,
        )
        values = []
        for entry in document["units"]:
            for metric in entry.get("breakdown", {}).get("metrics", []):
                if metric.get("value") is not None and metric.get("status") != "not_applicable":
                    values.append((entry["unit"], metric["metric"], float(metric["value"])))
        return values


def _department_preview(document: dict[str, Any], unit: str) -> dict[str, Any]:
    """A department's own line of a preview, its rank kept, everyone else's detail removed."""
    return {**document, "units": [u for u in document["units"] if u["unit"] == unit]}


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def build_inputs(
    unit_rows: list[tuple[str, str, str]], unit_index: dict[str, int], facts: domain.TaskRows, rows: list[Any]
) -> domain.Inputs:
    """Kernel inputs from the units, the task facts and the stored records (appeals resolved)."""
    voided_reports = set()
    for row in rows:
        if row.kind == "appeal" and not row.voided:
            payload = json.loads(row.payload)
            if payload.get("upheld") is True:
                voided_reports.add(payload["error_report"])
    cols: dict[str, dict[str, list[Any]]] = {k: {} for k in KINDS}

    def add(table: str, **values: Any) -> None:
        for key, value in values.items():
            cols[table].setdefault(key, []).append(value)

    for row in rows:
        if row.voided or row.unit not in unit_index:
            continue
        p = json.loads(row.payload)
        code = unit_index[row.unit]
        if row.kind == "error_report":
            add(
                "error_report",
                id=row.rid,
                unit=code,
                date=p["date"],
                category=p["category"],
                severity=p["severity"],
                voided=row.rid in voided_reports,
            )
        elif row.kind == "metric_reading":
            add(
                "metric_reading",
                unit=code,
                metric=p["metric"],
                period=p["period"],
                value=p.get("value", np.nan),
                numerator=p.get("numerator", np.nan),
                denominator=p.get("denominator", np.nan),
            )
        elif row.kind == "incentive":
            add("incentive", id=row.rid, unit=code, date=p["date"], level=p["level"])
        elif row.kind == "tolerance":
            add(
                "tolerance",
                id=row.rid,
                unit=code,
                target_type=p["target_type"],
                target=p["target"],
                decision=p["decision"],
                date=p["date"],
            )
        elif row.kind == "accountability":
            add("accountability", id=row.rid, unit=code, date=p["date"], kind=p["kind"])

    def column(table: str, key: str, dtype: Any) -> np.ndarray:
        return np.array(cols[table].get(key, []), dtype=dtype)

    return domain.Inputs(
        units=domain.UnitTable(
            ids=[u for u, _, _ in unit_rows],
            names=[n for _, n, _ in unit_rows],
            categories=[c for _, _, c in unit_rows],
        ),
        tasks=facts,
        errors=domain.ErrorRows(
            id=column("error_report", "id", object),
            unit=column("error_report", "unit", np.int64),
            date=column("error_report", "date", "datetime64[D]"),
            category=column("error_report", "category", object),
            severity=column("error_report", "severity", object),
            voided=column("error_report", "voided", bool),
        ),
        readings=domain.ReadingRows(
            unit=column("metric_reading", "unit", np.int64),
            metric=column("metric_reading", "metric", object),
            period=column("metric_reading", "period", object),
            value=column("metric_reading", "value", float),
            numerator=column("metric_reading", "numerator", float),
            denominator=column("metric_reading", "denominator", float),
        ),
        incentives=domain.IncentiveRows(
            id=column("incentive", "id", object),
            unit=column("incentive", "unit", np.int64),
            date=column("incentive", "date", "datetime64[D]"),
            level=column("incentive", "level", object),
        ),
        tolerances=domain.ToleranceRows(
            id=column("tolerance", "id", object),
            unit=column("tolerance", "unit", np.int64),
            target_type=column("tolerance", "target_type", object),
            target=column("tolerance", "target", object),
            decision=column("tolerance", "decision", object),
            date=column("tolerance", "date", "datetime64[D]"),
        ),
        accountability=domain.AccountabilityRows(
            id=column("accountability", "id", object),
            unit=column("accountability", "unit", np.int64),
            date=column("accountability", "date", "datetime64[D]"),
            kind=column("accountability", "kind", object),
        ),
    )


def longest_limit_seconds(scheme: Scheme) -> int:
    """An upper bound of the time from assignment to due under any task type of scheme."""
    day = 86_400
    longest = 0
    for spec in scheme.task_types.values():
        amount, unit = spec.limit.amount, spec.limit.unit
        seconds = {
            "minutes": 60 * amount,
            "hours": 3600 * amount,
            "calendar_days": day * (amount + 1),
            "months": day * (31 * amount + 1),
        }.get(unit)
        # Working days: five a week, plus the longest run of holidays a year can bring (Spring Festival,
        # National Day and local holidays together), generously.
        longest = max(longest, seconds if seconds is not None else day * (amount * 7 // 5 + 60))
    return longest


def recompute_dues(columns: dict[str, Any], scheme: Scheme) -> None:
    """The computed (not given) due instants of fact columns, computed again under scheme (SCORING.md §2)."""
    given = np.asarray(columns["due_given"], dtype=bool)
    if given.all():
        return
    due = np.array(columns["due_at"], dtype=np.int64)
    assigned, types, tz = columns["assigned_at"], columns["task_type"], scheme.tz
    calendar = scheme.calendar()
    by_day: dict[tuple[str, object], int] = {}
    for k in np.flatnonzero(~given).tolist():
        spec = scheme.task_types.get(types[k])
        if spec is None:
            raise SchemeInvalid(
                [
                    FieldViolation(
                        "task_types", f'has no task type "{types[k]}" (used by task {columns["task_id"][k]})'
                    )
                ]
            )
        start = from_epoch(int(assigned[k]), tz)
        # Clock limits run from the instant; the others only from its local date, computed once a day.
        key = (types[k], start if spec.limit.unit in ("minutes", "hours") else start.date())
        if key not in by_day:
            by_day[key] = to_epoch(cal.due_at(assigned_at=start, limit=spec.limit, calendar=calendar, tz=tz))
        due[k] = by_day[key]
    columns["due_at"] = due


def task_rows(columns: dict[str, list[Any]], unit_index: dict[str, int]) -> domain.TaskRows:
    """Kernel task rows from the tasks service's fact columns; rows of unknown units are dropped."""
    n = len(columns["unit"])
    # Dictionary-encode in C (map over a dict's __getitem__), not with a Python step per row.
    unit_codes: defaultdict[str, int] = defaultdict(lambda: -1, unit_index)
    unit = np.fromiter(map(unit_codes.__getitem__, columns["unit"]), dtype=np.int64, count=n)
    priority, priority_names = domain.factorize(columns["priority"])
    keep = unit >= 0
    everything = bool(keep.all())

    def kept(a: np.ndarray) -> np.ndarray:
        return a if everything else a[keep]

    return domain.TaskRows(
        task_id=kept(np.array(columns["task_id"], dtype=object)),
        unit=kept(unit),
        is_lead=kept(np.array(columns["is_lead"], dtype=bool)),
        priority=kept(priority),
        assigned_at=kept(np.array(columns["assigned_at"], dtype=np.int64)),
        due_at=kept(np.array(columns["due_at"], dtype=np.int64)),
        reported_at=kept(np.array(columns["reported_at"], dtype=np.int64)),
        cancelled_at=kept(np.array(columns["cancelled_at"], dtype=np.int64)),
        priority_names=tuple(priority_names),
    )
