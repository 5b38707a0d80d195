"""Appeals (申诉): the office's decision and the list with each appeal's state and timeline."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from services.common import ranges
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.ranges import check_year
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.scoring.commands import DecideAppeal, ListAppeals
from services.scoring.handlers.context import Context, scoped_unit
from services.scoring.handlers.records import get_record
from services.scoring.records import appealed
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.views import AppealView, RecordView, audit_target, ledger_event, timeline_event

APPEAL_STATES = ("pending", "upheld", "rejected")
MAX_PAGE = 1000


def decide_appeal(ctx: Context, command: DecideAppeal) -> RecordView:
    """The office's decision, kept in the appeal's fields (upheld) and its reason on the timeline."""
    rid, upheld, reason = command.rid, command.upheld, command.reason
    check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
    check_id("id", rid, max_len=ID_MAX)

    def work(conn: Connection) -> RecordView:
        view = get_record(ctx, conn, "appeal", rid)
        if view.fields.get("upheld") is not None:
            if view.fields["upheld"] != upheld:
                raise FailedPrecondition(f"申诉 {rid} 已有决定（upheld={view.fields['upheld']}）")
            return view
        # The decision's reason goes to the appeal's timeline: its fields stay the ledger's (FORMATS.md).
        flow.add_event(
            conn,
            subject_kind="appeal",
            subject_id=rid,
            event="decided",
            actor=command.actor,
            at=ctx.clock(),
            outcome="upheld" if upheld else "rejected",
            reason=reason,
        )
        payload = json.dumps({**view.fields, "upheld": upheld}, sort_keys=True, ensure_ascii=False)
        repo.set_payload(conn, kind="appeal", rid=rid, payload=payload, now=ctx.clock())
        return get_record(ctx, conn, "appeal", rid)

    request = {"id": rid, "upheld": upheld, "reason": reason}
    return ctx.once(command, "DecideAppeal", request, work, view=RecordView, target=audit_target)


def list_appeals(ctx: Context, query: ListAppeals) -> tuple[list[AppealView], str]:
    """Appeals with their states and timelines, a department's own only; a page may hold fewer."""
    unit = scoped_unit(query.actor, query.unit, "查看别的单位的申诉")
    check_year(query.year)
    if query.state and query.state not in APPEAL_STATES:
        raise InvalidArgument("state", f"须为以下之一：{'、'.join(APPEAL_STATES)}")
    size = ranges.page_size(query.page_size, default=200, maximum=MAX_PAGE)
    after = ranges.seq_token(query.page_token)
    with ctx.db.read() as conn:
        rows = flow.list_appeals(conn, unit=unit, after=after, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        payloads = {r.rid: json.loads(r.payload) for r in rows}
        years = flow.record_years(conn, [appealed(p) for p in payloads.values()])
        events = flow.events_of(conn, subject_kind="appeal", ids=payloads)
    views = []
    for row in rows:
        view = _appeal_view(ctx, row, payloads[row.rid], events.get(row.rid, []))
        if (query.state and view.state != query.state) or (
            query.year and years.get(appealed(payloads[row.rid])) != query.year
        ):
            continue
        views.append(view)
    return views, str(rows[-1].seq) if more and rows else ""


def _appeal_view(ctx: Context, row: Any, payload: dict[str, Any], events: list[Any]) -> AppealView:
    """An appeal record with its state and timeline; the steps of an imported line from the ledger."""
    tz = ctx.tz
    upheld = payload.get("upheld")
    current = "pending" if upheld is None else ("upheld" if upheld else "rejected")
    timeline = [timeline_event(e, tz) for e in events]
    if not any(e["event"] == "filed" for e in timeline):
        timeline.insert(0, ledger_event("filed", row.created_at, tz, reason=payload["reason"]))
    if upheld is not None and not any(e["event"] == "decided" for e in timeline):
        timeline.append(ledger_event("decided", row.updated_at, tz, outcome=current))
    decided = [e for e in timeline if e["event"] == "decided"]
    return AppealView(
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
