"""容错 applications and the appeal workflow: filing, the windows, the office's decisions, timelines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from services.common import ranges
from services.common.appeal_labels import APPLICATION_STATES
from services.common.auth import Identity
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, StaleEtag
from services.common.idempotency import idempotent
from services.common.ids import ID_RULE
from services.common.ranges import check_year
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, iso
from services.scoring import staging
from services.scoring.records import ID_PATTERN, appealed, parse_record, record_row
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.storage.tables import requests

if TYPE_CHECKING:
    from services.scoring.use_cases import ScoringApp

TARGET_TYPES = ("task", "error_report")
DECISIONS = ("exempt", "mitigate", "refused")
STATES = ("pending", *DECISIONS)
APPEAL_STATES = ("pending", "upheld", "rejected")
MAX_PAGE = 1000


@dataclass
class ApplicationView:
    id: str
    unit: str
    year: int
    target_type: str
    target: str
    reason: str
    state: str
    filed_at: str
    decided_at: str
    decision_reason: str
    etag: str
    timeline: list[dict[str, str]] = field(default_factory=list)


@dataclass
class AppealView:
    id: str
    unit: str
    target_type: str
    target: str
    date: str
    reason: str
    state: str
    decision_reason: str
    voided: bool
    timeline: list[dict[str, str]] = field(default_factory=list)


def _event(row: Any, tz: tzinfo) -> dict[str, str]:
    return {
        "event": row.event,
        "at": iso(row.at, tz),
        "actor": row.actor,
        "actor_role": row.actor_role,
        "actor_unit": row.actor_unit,
        "outcome": row.outcome,
        "reason": row.reason,
    }


def _ledger_event(event: str, at: int, tz: tzinfo, *, outcome: str = "", reason: str = "") -> dict[str, str]:
    """A step that came in with an imported ledger line: no person's token, the ledger its actor."""
    return {
        "event": event,
        "at": iso(at, tz),
        "actor": "ledger",
        "actor_role": "",
        "actor_unit": "",
        "outcome": outcome,
        "reason": reason,
    }


def _local_time(seconds: int, tz: tzinfo) -> str:
    return f"{from_epoch(seconds, tz):%Y-%m-%d %H:%M:%S}"


class Workflow:
    """Appeals and 容错 applications of the scoring service (its ScoringApp's clock, scheme and tasks)."""

    def __init__(self, app: ScoringApp) -> None:
        self.app = app

    # ---- windows

    def window_refusal(self, conn: Connection, *, year: int, appeal: bool) -> str:
        """Why the year takes no appeal (appeal) or application now, in Chinese; empty when it does.

        Applications are open until the year is final (定档) and, once a run is publicised, until its
        appeal window closes; appeals only inside the 公示 appeal window.
        """
        what = "申诉" if appeal else "容错申请"
        now, tz = self.app.clock(), self.app.tz
        for run in flow.current_runs(conn, year=year):
            if run.state == "final":
                return f"{year} 年度考核已定档（{run.id}），{what}已关闭"
            if run.appeal_deadline is not None and now > run.appeal_deadline:
                closed = _local_time(run.appeal_deadline, tz)
                return f"{year} 年度考核结果（{run.id}）的公示申诉期已于 {closed} 截止，{what}已关闭"
            if run.appeal_deadline is None and appeal:
                # appeal_window_working_days = 0: the scheme gives no 公示 appeal window at all.
                return (
                    f"{year} 年度考核结果（{run.id}）的公示不设申诉期（方案 appeal_window_working_days = 0）"
                )
            return ""
        if appeal:
            return f"{year} 年度考核结果尚未公示：申诉只在公示申诉期内受理"
        return ""

    def check_appeal(self, conn: Connection, *, actor: Identity, unit: str, year: int) -> None:
        """A department appeals only its own unit's records, only inside the 公示 appeal window."""
        if not actor.is_department:
            return
        if unit != actor.unit:
            # Refused without naming the unit the record concerns.
            raise PermissionDenied(f"unit {actor.unit} may appeal only its own records")
        refusal = self.window_refusal(conn, year=year, appeal=True)
        if refusal:
            raise FailedPrecondition(refusal)

    def holds(self, conn: Connection, *, year: int) -> str:
        """What holds the year's 定档 back: undecided appeals and pending applications; empty for nothing."""
        parts = []
        undecided = repo.undecided_appeals(conn, year=year)
        if undecided:
            parts.append("appeals still undecided (申诉待裁决): " + ", ".join(undecided))
        pending = flow.pending_applications(conn, year=year)
        if pending:
            parts.append("applications still pending (容错申请待裁决): " + ", ".join(pending))
        return "; ".join(parts)

    # ---- appeals

    def appeal_filed(self, conn: Connection, *, actor: Identity, rid: str, reason: str) -> None:
        flow.add_event(
            conn,
            subject_kind="appeal",
            subject_id=rid,
            event="filed",
            actor=actor,
            at=self.app.clock(),
            reason=reason,
        )

    def appeal_decided(
        self, conn: Connection, *, actor: Identity, rid: str, upheld: bool, reason: str
    ) -> None:
        flow.add_event(
            conn,
            subject_kind="appeal",
            subject_id=rid,
            event="decided",
            actor=actor,
            at=self.app.clock(),
            outcome="upheld" if upheld else "rejected",
            reason=reason,
        )

    def list_appeals(
        self, *, actor: Identity, unit: str, year: int, state: str, page_size: int, page_token: str
    ) -> tuple[list[AppealView], str]:
        """Appeals with their states and timelines, a department's own only; a page may hold fewer."""
        unit = self._scoped(actor, unit, "read the appeals of")
        check_year(year)
        if state and state not in APPEAL_STATES:
            raise InvalidArgument("state", f"must be one of {', '.join(APPEAL_STATES)}")
        size = ranges.page_size(page_size, default=200, maximum=MAX_PAGE)
        after = ranges.seq_token(page_token)
        tz = self.app.tz
        with self.app.db.read() as conn:
            rows = flow.list_appeals(conn, unit=unit, after=after, limit=size + 1)
            more = len(rows) > size
            rows = rows[:size]
            payloads = {r.rid: json.loads(r.payload) for r in rows}
            years = flow.record_years(conn, [appealed(p) for p in payloads.values()])
            events = flow.events_of(conn, subject_kind="appeal", ids=payloads)
        views = []
        for row in rows:
            payload = payloads[row.rid]
            upheld = payload.get("upheld")
            current = "pending" if upheld is None else ("upheld" if upheld else "rejected")
            if (state and current != state) or (year and years.get(appealed(payload)) != year):
                continue
            timeline = [_event(e, tz) for e in events.get(row.rid, [])]
            if not any(e["event"] == "filed" for e in timeline):
                timeline.insert(0, _ledger_event("filed", row.created_at, tz, reason=payload["reason"]))
            if upheld is not None and not any(e["event"] == "decided" for e in timeline):
                timeline.append(_ledger_event("decided", row.updated_at, tz, outcome=current))
            decided = [e for e in timeline if e["event"] == "decided"]
            views.append(
                AppealView(
                    id=row.rid,
                    unit=row.unit,
                    target_type=payload["target_type"],
                    target=payload["target"],
                    date=payload["date"],
                    reason=payload["reason"],
                    state=current,
                    decision_reason=decided[-1]["reason"] if decided else "",
                    voided=bool(row.voided),
                    timeline=timeline,
                )
            )
        return views, str(rows[-1].seq) if more and rows else ""

    # ---- applications

    def _scoped(self, actor: Identity, unit: str, what: str) -> str:
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"unit {actor.unit} may not {what} unit {unit}")
            return actor.unit
        if unit:
            check_id("unit", unit, max_len=ID_MAX)
        return unit

    def _view(self, conn: Connection, app_id: str) -> ApplicationView:
        row = flow.get_application(conn, app_id)
        if row is None:
            raise NotFound(f"application {app_id!r} does not exist")
        return self._views(conn, [row])[0]

    def _views(self, conn: Connection, rows: list[Any]) -> list[ApplicationView]:
        """Stored applications as the service shows them, each with its timeline (one query for all)."""
        tz = self.app.tz
        events = flow.events_of(conn, subject_kind="application", ids=[r.id for r in rows])
        return [
            ApplicationView(
                id=row.id,
                unit=row.unit,
                year=row.year,
                target_type=row.target_type,
                target=row.target,
                reason=row.reason,
                state=row.state,
                filed_at=iso(row.filed_at, tz),
                decided_at=iso(row.decided_at, tz),
                decision_reason=row.decision_reason,
                etag=f'"{row.version}"',
                timeline=[_event(e, tz) for e in events.get(row.id, [])],
            )
            for row in rows
        ]

    def _once(
        self,
        actor: Identity,
        request_id: str,
        method: str,
        request: dict[str, Any],
        work: Callable[[Connection], ApplicationView],
    ) -> ApplicationView:
        """work once per caller, method and request id, audited in its transaction."""
        audited = self.app.audit.audited(
            work, actor=actor, method=method, target=lambda v: f"application={v.id}"
        )
        for attempt in range(3):
            try:
                return idempotent(
                    self.app.db,
                    requests,
                    caller=actor,
                    method=method,
                    request_id=request_id,
                    request=request,
                    work=audited,
                    encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
                    decode=lambda b: ApplicationView(**json.loads(b)),
                )
            except IntegrityError:
                # Two applications given the same next id at once: the later one takes the one after.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _task_year(self, *, unit: str, target: str, department: bool) -> int:
        """The assessment year of a task of unit (its due year; this year while it has no due instant)."""
        found = self.app.tasks.refs([target]).get(target)
        if found is None:
            raise InvalidArgument("target", f"task {target!r} does not exist")
        lead, co, due_at = found
        if unit != lead and unit not in co:
            if department:
                raise PermissionDenied(f"unit {unit} may apply for 容错 only on tasks of its own unit")
            raise InvalidArgument("target", f"task {target!r} is not a task of unit {unit!r}")
        return from_epoch(due_at or self.app.clock(), self.app.tz).year

    @staticmethod
    def _report_year(conn: Connection, *, unit: str, target: str, department: bool) -> int:
        report = repo.get_record(conn, kind="error_report", rid=target)
        if report is None:
            raise InvalidArgument("target", f"error report {target!r} does not exist")
        if report.unit != unit:
            if department:
                raise PermissionDenied(f"unit {unit} may apply for 容错 only on its own error reports")
            raise InvalidArgument("target", f"error report {target!r} concerns {report.unit}, not {unit}")
        if report.voided:
            raise FailedPrecondition(f"error report {target} is voided (已作废): nothing to apply for")
        upheld = repo.upheld_appeal_on(conn, kind="error_report", rid=target)
        if upheld:
            raise FailedPrecondition(
                f"error report {target} was voided by the upheld appeal {upheld} (申诉成立): "
                "nothing to apply for"
            )
        return int(report.year)

    def file(
        self,
        *,
        actor: Identity,
        request_id: str,
        app_id: str,
        unit: str,
        target_type: str,
        target: str,
        reason: str,
    ) -> ApplicationView:
        """A 容错 application, pending, by a department for its unit (or by the office for a unit)."""
        unit = self._scoped(actor, unit, "apply for")
        if not unit:
            raise InvalidArgument("unit", "name the unit that applies")
        if unit not in {u for u, _, _ in self.app.tasks.units()}:
            raise InvalidArgument("unit", f"unit {unit!r} does not exist")
        if target_type not in TARGET_TYPES:
            raise InvalidArgument("target_type", f"must be one of {', '.join(TARGET_TYPES)}")
        if not target.strip():
            raise InvalidArgument("target", f"name the {target_type} the application is for")
        check_id("target", target, max_len=ID_MAX)
        if not reason.strip():
            raise InvalidArgument("reason", "a 容错 application needs its reason")
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
        if app_id and not ID_PATTERN.match(app_id):
            raise InvalidArgument("id", ID_RULE)
        department = actor.is_department
        task_year = (
            self._task_year(unit=unit, target=target, department=department) if target_type == "task" else 0
        )

        def work(conn: Connection) -> ApplicationView:
            # One write behind the other (PostgreSQL): two filings on one target cannot both be pending.
            staging.lock(conn)
            year = task_year or self._report_year(conn, unit=unit, target=target, department=department)
            refusal = self.window_refusal(conn, year=year, appeal=False)
            if refusal:
                raise FailedPrecondition(refusal)
            waiting = flow.pending_for(conn, unit=unit, target_type=target_type, target=target)
            if waiting:
                raise FailedPrecondition(f"{unit} 对 {target} 的容错申请 {waiting} 尚待裁决，不能重复申请")
            new_id = app_id or self._next_id(conn, year)
            if flow.get_application(conn, new_id) is not None:
                raise InvalidArgument("id", f"application {new_id!r} already exists")
            if repo.get_record(conn, kind="tolerance", rid=new_id) is not None:
                raise InvalidArgument("id", f"a tolerance record {new_id!r} already exists")
            now = self.app.clock()
            flow.insert_application(
                conn,
                id=new_id,
                unit=unit,
                year=year,
                target_type=target_type,
                target=target,
                reason=reason,
                state="pending",
                filed_at=now,
                decided_at=None,
                decision_reason="",
                version=1,
            )
            flow.add_event(
                conn,
                subject_kind="application",
                subject_id=new_id,
                event="filed",
                actor=actor,
                at=now,
                reason=reason,
            )
            return self._view(conn, new_id)

        request = {"id": app_id, "unit": unit, "target_type": target_type, "target": target, "reason": reason}
        return self._once(actor, request_id, "FileApplication", request, work)

    @staticmethod
    def _next_id(conn: Connection, year: int) -> str:
        n = flow.count_applications(conn, year=year) + 1
        while True:
            candidate = f"RC{year}-{n:03d}"
            if flow.get_application(conn, candidate) is None and (
                repo.get_record(conn, kind="tolerance", rid=candidate) is None
            ):
                return candidate
            n += 1

    def decide(
        self, *, actor: Identity, request_id: str, app_id: str, decision: str, reason: str
    ) -> ApplicationView:
        """The office's decision; exempt or mitigate is stored as the tolerance record of the same id."""
        check_id("id", app_id, max_len=ID_MAX)
        if decision not in DECISIONS:
            raise InvalidArgument("decision", f"must be one of {', '.join(DECISIONS)}")
        if not reason.strip():
            raise InvalidArgument("reason", "a decision needs its reason")
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)

        def work(conn: Connection) -> ApplicationView:
            row = flow.get_application(conn, app_id)
            if row is None:
                raise NotFound(f"application {app_id!r} does not exist")
            if row.state != "pending":
                if row.state == decision:
                    return self._view(conn, app_id)
                label = APPLICATION_STATES[row.state]
                raise FailedPrecondition(f"application {app_id} was already decided: {label}")
            now = self.app.clock()
            if decision != "refused":
                self._grant(conn, row, decision=decision, reason=reason, now=now)
            if not flow.decide_application(
                conn, app_id=app_id, version=row.version, state=decision, reason=reason, now=now
            ):
                raise StaleEtag(f"application {app_id} was decided by somebody else at the same time")
            flow.add_event(
                conn,
                subject_kind="application",
                subject_id=app_id,
                event="decided",
                actor=actor,
                at=now,
                outcome=decision,
                reason=reason,
            )
            return self._view(conn, app_id)

        request = {"id": app_id, "decision": decision, "reason": reason}
        return self._once(actor, request_id, "DecideApplication", request, work)

    def _grant(self, conn: Connection, row: Any, *, decision: str, reason: str, now: int) -> None:
        """The ledger's tolerance record of a granted application (FORMATS.md), in the same transaction."""
        staging.lock(conn)
        staging.refuse_staged(conn, [("tolerance", row.id)])
        fields = {
            "type": "tolerance",
            "id": row.id,
            "unit": row.unit,
            "target_type": row.target_type,
            "target": row.target,
            "decision": decision,
            "date": from_epoch(now, self.app.tz).date().isoformat(),
            "reason": reason,
        }
        record = parse_record("tolerance", fields, self.app.scheme)
        stored = repo.stored_payloads(conn, [("tolerance", row.id)]).get(("tolerance", row.id))
        made = record_row(record, unit=row.unit, stamp=now)
        if stored is None:
            repo.insert_records(conn, [made])
        elif stored[1]:
            repo.replace_voided(conn, made)
        elif stored[0] != record.canonical():
            raise FailedPrecondition(
                f"tolerance record {row.id} is already recorded with other values; void it first"
            )

    def list_applications(
        self, *, actor: Identity, unit: str, year: int, state: str, page_size: int, page_token: str
    ) -> tuple[list[ApplicationView], str]:
        unit = self._scoped(actor, unit, "read the applications of")
        check_year(year)
        if state and state not in STATES:
            raise InvalidArgument("state", f"must be one of {', '.join(STATES)}")
        size = ranges.page_size(page_size, default=200, maximum=MAX_PAGE)
        after = ranges.seq_token(page_token)
        with self.app.db.read() as conn:
            rows = flow.list_applications(
                conn, unit=unit, year=year, state=state, after=after, limit=size + 1
            )
            more = len(rows) > size
            rows = rows[:size]
            views = self._views(conn, rows)
        return views, str(rows[-1].seq) if more and rows else ""
