"""容错 applications: filed by a department for its unit (or by the office), decided by the office, listed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from services.common import ranges
from services.common.appeal_labels import APPLICATION_STATES
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, StaleEtag
from services.common.ids import ID_RULE
from services.common.ranges import check_year
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, iso
from services.scoring import staging
from services.scoring.commands import DecideApplication, FileApplication, ListApplications
from services.scoring.handlers.context import Context, scoped_unit
from services.scoring.handlers.windows import window_refusal
from services.scoring.records import ID_PATTERN, parse_record, record_row
from services.scoring.storage import counters
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.views import ApplicationView, timeline_event

TARGET_TYPES = ("task", "error_report")
DECISIONS = ("exempt", "mitigate", "refused")
STATES = ("pending", *DECISIONS)
MAX_PAGE = 1000
# Filing and deciding run again when they met a concurrent writer (the same id given twice by hand at once).
ATTEMPTS = 3


def _target(view: ApplicationView) -> str:
    return f"application={view.id}"


def application_view(ctx: Context, conn: Connection, app_id: str) -> ApplicationView:
    """A stored application as shown; NotFound when there is none."""
    row = flow.get_application(conn, app_id)
    if row is None:
        raise NotFound(f"容错申请 {app_id!r} 不存在")
    return _views(ctx, conn, [row])[0]


def _views(ctx: Context, conn: Connection, rows: list[Any]) -> list[ApplicationView]:
    """Stored applications as the service shows them, each with its timeline (one query for all)."""
    tz = ctx.tz
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
            timeline=[timeline_event(e, tz) for e in events.get(row.id, [])],
        )
        for row in rows
    ]


# ---- filing


def _checked(ctx: Context, command: FileApplication) -> str:
    """The unit that applies, the application checked (a task's ownership is checked when filed)."""
    unit = scoped_unit(command.actor, command.unit, "代别的单位申请容错")
    target_type, target, reason = command.target_type, command.target, command.reason
    if not unit:
        raise InvalidArgument("unit", "须写明申请的单位")
    if unit not in {u for u, _, _ in ctx.tasks.units()}:
        raise InvalidArgument("unit", f"单位 {unit!r} 不存在")
    if target_type not in TARGET_TYPES:
        raise InvalidArgument("target_type", f"须为以下之一：{'、'.join(TARGET_TYPES)}")
    if not target.strip():
        raise InvalidArgument("target", f"须写明申请针对的 {target_type}")
    check_id("target", target, max_len=ID_MAX)
    if not reason.strip():
        raise InvalidArgument("reason", "容错申请须写明理由")
    check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
    if command.app_id and not ID_PATTERN.match(command.app_id):
        raise InvalidArgument("id", ID_RULE)
    return unit


def _task_year(ctx: Context, *, unit: str, target: str, department: bool) -> int:
    """The assessment year of a task of unit (its due year; this year while it has no due instant)."""
    found = ctx.tasks.refs([target]).get(target)
    if found is None:
        raise InvalidArgument("target", f"任务 {target!r} 不存在")
    lead, co, due_at = found
    if unit != lead and unit not in co:
        if department:
            raise PermissionDenied(f"单位 {unit} 只能就本单位的任务申请容错")
        raise InvalidArgument("target", f"任务 {target!r} 不是单位 {unit!r} 的任务")
    return from_epoch(due_at or ctx.clock(), ctx.tz).year


def _report_year(conn: Connection, *, unit: str, target: str, department: bool) -> int:
    """The year of an error report of unit that an application can still change."""
    report = repo.get_record(conn, kind="error_report", rid=target)
    if report is None:
        raise InvalidArgument("target", f"差错通报 {target!r} 不存在")
    if report.unit != unit:
        if department:
            raise PermissionDenied(f"单位 {unit} 只能就本单位的差错通报申请容错")
        raise InvalidArgument("target", f"差错通报 {target!r} 涉及的是 {report.unit}，不是 {unit}")
    if report.voided:
        raise FailedPrecondition(f"差错通报 {target} 已作废：无需申请容错")
    upheld = repo.upheld_appeal_on(conn, kind="error_report", rid=target)
    if upheld:
        raise FailedPrecondition(f"差错通报 {target} 已因申诉 {upheld} 成立而作废：无需申请容错")
    return int(report.year)


def _new_id(conn: Connection, *, app_id: str, year: int) -> str:
    """app_id as given (refused when taken), else the year's next free RC<year>-<n>.

    The year's counter counts every filing, so a generated id is the one count + 1 gave before.
    """
    scope = f"application:{year}"

    def taken(candidate: str) -> bool:
        return flow.get_application(conn, candidate) is not None or (
            repo.get_record(conn, kind="tolerance", rid=candidate) is not None
        )

    if not app_id:
        return counters.next_free(conn, scope, name=lambda n: f"RC{year}-{n:03d}", taken=taken)
    if flow.get_application(conn, app_id) is not None:
        raise InvalidArgument("id", f"容错申请 {app_id!r} 已存在")
    if repo.get_record(conn, kind="tolerance", rid=app_id) is not None:
        raise InvalidArgument("id", f"容错记录 {app_id!r} 已存在")
    counters.take(conn, scope)
    return app_id


def file_application(ctx: Context, command: FileApplication) -> ApplicationView:
    """A 容错 application, pending, by a department for its unit (or by the office for a unit)."""
    unit = _checked(ctx, command)
    actor, target_type, target, reason = command.actor, command.target_type, command.target, command.reason
    department = actor.is_department
    task_year = (
        _task_year(ctx, unit=unit, target=target, department=department) if target_type == "task" else 0
    )

    def work(conn: Connection) -> ApplicationView:
        # One write behind the other (PostgreSQL): two filings on one target cannot both be pending.
        staging.lock(conn)
        year = task_year or _report_year(conn, unit=unit, target=target, department=department)
        refusal = window_refusal(ctx, conn, year=year, appeal=False)
        if refusal:
            raise FailedPrecondition(refusal)
        waiting = flow.pending_for(conn, unit=unit, target_type=target_type, target=target)
        if waiting:
            raise FailedPrecondition(f"{unit} 对 {target} 的容错申请 {waiting} 尚待裁决，不能重复申请")
        new_id = _new_id(conn, app_id=command.app_id, year=year)
        now = ctx.clock()
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
        return application_view(ctx, conn, new_id)

    request = {
        "id": command.app_id,
        "unit": unit,
        "target_type": target_type,
        "target": target,
        "reason": reason,
    }
    return ctx.once(
        command, "FileApplication", request, work, view=ApplicationView, target=_target, attempts=ATTEMPTS
    )


# ---- deciding and listing


def decide_application(ctx: Context, command: DecideApplication) -> ApplicationView:
    """The office's decision; exempt or mitigate is stored as the tolerance record of the same id."""
    app_id, decision, reason = command.app_id, command.decision, command.reason
    check_id("id", app_id, max_len=ID_MAX)
    if decision not in DECISIONS:
        raise InvalidArgument("decision", f"须为以下之一：{'、'.join(DECISIONS)}")
    if not reason.strip():
        raise InvalidArgument("reason", "决定须写明理由")
    check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)

    def work(conn: Connection) -> ApplicationView:
        row = flow.get_application(conn, app_id)
        if row is None:
            raise NotFound(f"容错申请 {app_id!r} 不存在")
        if row.state != "pending":
            if row.state == decision:
                return application_view(ctx, conn, app_id)
            label = APPLICATION_STATES[row.state]
            raise FailedPrecondition(f"容错申请 {app_id} 已有决定：{label}")
        now = ctx.clock()
        if decision != "refused":
            _grant(ctx, conn, row, decision=decision, reason=reason, now=now)
        if not flow.decide_application(
            conn, app_id=app_id, version=row.version, state=decision, reason=reason, now=now
        ):
            raise StaleEtag(f"容错申请 {app_id} 同时被他人作出决定")
        flow.add_event(
            conn,
            subject_kind="application",
            subject_id=app_id,
            event="decided",
            actor=command.actor,
            at=now,
            outcome=decision,
            reason=reason,
        )
        return application_view(ctx, conn, app_id)

    request = {"id": app_id, "decision": decision, "reason": reason}
    return ctx.once(
        command, "DecideApplication", request, work, view=ApplicationView, target=_target, attempts=ATTEMPTS
    )


def _grant(ctx: Context, conn: Connection, row: Any, *, decision: str, reason: str, now: int) -> None:
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
        "date": from_epoch(now, ctx.tz).date().isoformat(),
        "reason": reason,
    }
    record = parse_record("tolerance", fields, ctx.scheme)
    stored = repo.stored_payloads(conn, [("tolerance", row.id)]).get(("tolerance", row.id))
    made = record_row(record, unit=row.unit, stamp=now)
    if stored is None:
        repo.insert_records(conn, [made])
    elif stored[1]:
        repo.replace_voided(conn, made)
    elif stored[0] != record.canonical():
        raise FailedPrecondition(f"容错记录 {row.id} 已按其他值记录；请先作废")


def list_applications(ctx: Context, query: ListApplications) -> tuple[list[ApplicationView], str]:
    """A page of applications in the order filed, a department's own only."""
    unit = scoped_unit(query.actor, query.unit, "查看别的单位的容错申请")
    check_year(query.year)
    if query.state and query.state not in STATES:
        raise InvalidArgument("state", f"须为以下之一：{'、'.join(STATES)}")
    size = ranges.page_size(query.page_size, default=200, maximum=MAX_PAGE)
    after = ranges.seq_token(query.page_token)
    with ctx.db.read() as conn:
        rows = flow.list_applications(
            conn, unit=unit, year=query.year, state=query.state, after=after, limit=size + 1
        )
        more = len(rows) > size
        rows = rows[:size]
        views = _views(ctx, conn, rows)
    return views, str(rows[-1].seq) if more and rows else ""
