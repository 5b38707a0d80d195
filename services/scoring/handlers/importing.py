"""ImportRecords: ledger lines all or nothing, a changed record refused; staged for a two-service import."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from services.common.errors import FieldViolation, InvalidArgument
from services.common.jsonlines import loads_line
from services.common.scheme import Scheme
from services.scoring import staging
from services.scoring.commands import ImportRecords
from services.scoring.handlers.context import Context
from services.scoring.handlers.records import appealed_of, check_record_references
from services.scoring.records import APPEAL_TARGETS, Record, appealed, parse_record, record_row, sort_batch
from services.scoring.storage import repository as repo


def parse_lines(lines: Iterable[tuple[int, str]], scheme: Scheme) -> list[Record]:
    """Each ledger line parsed as the record it is, its line number in what it refuses."""
    batch: list[Record] = []
    for line, text in lines:
        obj = loads_line(text, line=line)
        if not isinstance(obj, dict):
            raise InvalidArgument([FieldViolation(f"line {line}: json", "须为 JSON 对象")])
        batch.append(parse_record(str(obj.get("type")), obj, scheme, line=line))
    return batch


def _rows(conn: Connection, fresh: Iterable[Record], batch: list[Record], stamp: int) -> list[dict[str, Any]]:
    """The rows of the new records; an appeal belongs to the unit of the record it contests."""
    units_in_batch = {(r.kind, r.rid): r.unit for r in batch if r.kind in APPEAL_TARGETS}
    rows = []
    for record in fresh:
        unit = record.unit
        if record.kind == "appeal":
            key = appealed(record.payload)
            unit = units_in_batch.get(key) or appealed_of(conn, key)[0]
        rows.append(record_row(record, unit=unit, stamp=stamp))
    return rows


def import_records(ctx: Context, command: ImportRecords) -> tuple[Counter[str], Counter[str]]:
    """All or nothing, a changed record refused; with stage_as (an import id) staged until it commits."""
    batch = parse_lines(command.lines, ctx.scheme)
    actor, stage_as = command.actor, command.stage_as

    def work(conn: Connection) -> tuple[Counter[str], Counter[str]]:
        check_record_references(
            ctx, conn, batch, pending_units=command.pending_units, pending_tasks=command.pending_tasks
        )
        stored = repo.stored_payloads(conn, [(r.kind, r.rid) for r in batch])
        fresh, replaced, created, unchanged = sort_batch(batch, stored)
        rows = _rows(conn, fresh.values(), batch, ctx.clock())
        if command.validate_only:
            conn.rollback()
        elif stage_as:
            staging.stage(conn, import_id=stage_as, rows=rows)
            target = f"staged {stage_as}: created={dict(created)}"
            ctx.audit.changed(conn, actor=actor, method="ImportRecords", target=target)
        else:
            for row in rows:
                if (row["kind"], row["rid"]) in replaced:
                    repo.replace_voided(conn, row)
            repo.insert_records(conn, [r for r in rows if (r["kind"], r["rid"]) not in replaced])
            target = f"created={dict(created)}"
            ctx.audit.changed(conn, actor=actor, method="ImportRecords", target=target)
        return created, unchanged

    return staging.exclusive(ctx.db, import_id=stage_as, work=work, validate_only=command.validate_only)
