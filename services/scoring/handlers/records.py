"""Records one at a time: create (an appeal filed too), void, list; their reference checks."""

from __future__ import annotations

from sqlalchemy import Connection

from services.common import ranges
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.jsonlines import check_value
from services.common.ranges import check_year
from services.common.text import ID_MAX, NOTE_MAX, check_id, check_text
from services.common.vocabulary import RECORD_KIND_LABELS, RECORD_KINDS, label_of
from services.scoring import staging
from services.scoring.commands import CreateRecord, ListRecords, VoidRecord
from services.scoring.handlers import windows
from services.scoring.handlers.context import MAX_PAGE, Context, own_unit
from services.scoring.records import (
    APPEAL_TARGETS,
    Record,
    appealed,
    check_references,
    parse_record,
    record_row,
    referenced,
    referenced_tasks,
)
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.views import RecordView, audit_target, record_view


def check_record_references(
    ctx: Context,
    conn: Connection,
    batch: list[Record],
    *,
    pending_units: set[str],
    pending_tasks: dict[str, tuple[str, list[str]]],
) -> None:
    """Units, tasks and error reports that records point at exist (stored or earlier in the batch)."""
    task_ids = referenced_tasks(batch, pending=pending_tasks)
    task_units = {**ctx.tasks.lookup(task_ids), **pending_tasks} if task_ids or pending_tasks else {}
    check_references(
        batch,
        known_units={u for u, _, _ in ctx.tasks.units()} | pending_units,
        task_units=task_units,
        stored=_stored_units(conn, referenced(batch)),
    )


def _stored_units(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(kind, id) → unit of the stored records among keys."""
    return {
        (kind, rid): unit
        for kind in APPEAL_TARGETS
        for rid, unit in repo.record_units(conn, kind=kind, ids=[i for k, i in keys if k == kind]).items()
    }


def appealed_of(conn: Connection, key: tuple[str, str]) -> tuple[str, int]:
    """(unit, year) of the record an appeal contests."""
    found = repo.record_unit_and_year(conn, kind=key[0], rid=key[1])
    if found is None:
        raise NotFound(f"{label_of(RECORD_KIND_LABELS, key[0])} {key[1]!r} 不存在")
    return found


def get_record(ctx: Context, conn: Connection, kind: str, rid: str) -> RecordView:
    """A stored record as shown; NotFound when there is none."""
    row = repo.get_record(conn, kind=kind, rid=rid)
    if row is None:
        raise NotFound(f"{label_of(RECORD_KIND_LABELS, kind)} {rid!r} 不存在")
    return record_view(row, ctx.tz)


def _parsed(ctx: Context, command: CreateRecord) -> Record:
    """The record asked for, checked; what a department may file (an appeal, undecided) only."""
    kind, fields = command.kind, command.fields
    if kind not in RECORD_KINDS:
        raise InvalidArgument("kind", f"须为以下之一：{'、'.join(RECORD_KINDS)}")
    problem = check_value(fields)
    if problem:
        raise InvalidArgument("fields", problem)
    record = parse_record(kind, {**fields, "type": kind}, ctx.scheme)
    if command.actor.is_department:
        if kind != "appeal":
            raise PermissionDenied(f"单位只能提出申诉，不能记录{label_of(RECORD_KIND_LABELS, kind)}")
        if record.payload.get("upheld") is not None:
            raise PermissionDenied("单位提出申诉；是否成立由考核办决定")
    return record


def create_record(ctx: Context, command: CreateRecord) -> RecordView:
    """One record from a person: the office records anything; a department only appeals its reports."""
    record = _parsed(ctx, command)
    kind, actor = command.kind, command.actor

    def work(conn: Connection) -> RecordView:
        # References first: an appeal of a report that does not exist is bad input, not a missing one.
        check_record_references(ctx, conn, [record], pending_units=set(), pending_tasks={})
        staging.lock(conn)
        staging.refuse_staged(conn, [(kind, record.rid)])
        unit = record.unit
        if kind == "appeal":
            unit, year = appealed_of(conn, appealed(record.payload))
            windows.check_appeal(ctx, conn, actor=actor, unit=unit, year=year)
        stored = repo.stored_payloads(conn, [(kind, record.rid)]).get((kind, record.rid))
        row = record_row(record, unit=unit, stamp=ctx.clock())
        if stored is None:
            repo.insert_records(conn, [row])
        elif stored[1]:
            repo.replace_voided(conn, row)
        elif stored[0] != record.canonical():
            raise InvalidArgument(
                "id",
                f"{label_of(RECORD_KIND_LABELS, kind)} {record.rid!r} 已按其他值记录；请先作废再重新记录",
            )
        if kind == "appeal" and (stored is None or stored[1]):
            reason = record.payload["reason"]
            flow.add_event(
                conn,
                subject_kind="appeal",
                subject_id=record.rid,
                event="filed",
                actor=actor,
                at=ctx.clock(),
                reason=reason,
            )
        return get_record(ctx, conn, kind, record.rid)

    request = {"kind": kind, "fields": command.fields}
    return ctx.once(command, "CreateRecord", request, work, view=RecordView, target=audit_target)


def void_record(ctx: Context, command: VoidRecord) -> RecordView:
    """A record voided with its reason (voiding a voided one changes nothing)."""
    kind, rid, reason = command.kind, command.rid, command.reason
    if not reason.strip():
        raise InvalidArgument("reason", "作废记录须写明理由")
    check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)
    check_id("id", rid, max_len=ID_MAX)

    def work(conn: Connection) -> RecordView:
        view = get_record(ctx, conn, kind, rid)
        if not view.voided:
            repo.void_record(conn, kind=kind, rid=rid, reason=reason, now=ctx.clock())
        return get_record(ctx, conn, kind, rid)

    request = {"kind": kind, "id": rid, "reason": reason}
    return ctx.once(command, "VoidRecord", request, work, view=RecordView, target=audit_target)


def list_records(ctx: Context, query: ListRecords) -> tuple[list[RecordView], str]:
    """A page of records in the order stored, a department's own only."""
    unit = own_unit(query.actor, query.unit, "查看别的单位的记录")
    if query.kind and query.kind not in RECORD_KINDS:
        raise InvalidArgument("kind", f"须为以下之一：{'、'.join(RECORD_KINDS)}")
    check_year(query.year)
    size = ranges.page_size(query.page_size, default=200, maximum=MAX_PAGE)
    after = ranges.seq_token(query.page_token)
    with ctx.db.read() as conn:
        rows = repo.list_records(
            conn,
            kind=query.kind,
            unit=unit,
            year=query.year,
            include_voided=query.include_voided,
            after=after,
            limit=size + 1,
        )
    more = len(rows) > size
    rows = rows[:size]
    return [record_view(r, ctx.tz) for r in rows], str(rows[-1].seq) if more and rows else ""
