"""Data functions of the scoring service: they read and write through a connection, never commit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select, update

from services.common.db import chunks
from services.scoring.records import APPEAL_TARGETS, appealed
from services.scoring.storage.tables import records, run_lines, runs, schemes
from services.scoring.task_lines import Part, PartReader

PUBLISHED = ("publicised", "final")


# --- schemes ------------------------------------------------------------------------------------


def scheme_text(conn: Connection, sha256: str) -> str | None:
    """The stored text of the scheme with that SHA-256, None when it is not stored."""
    text: str | None = conn.execute(select(schemes.c.text).where(schemes.c.sha256 == sha256)).scalar()
    return text


def store_scheme(
    conn: Connection, *, sha256: str, scheme_id: str, name: str, year: int, text: str, now: int
) -> None:
    """Keeps a scheme's text under its SHA-256, once."""
    exists = conn.execute(select(schemes.c.sha256).where(schemes.c.sha256 == sha256)).scalar()
    if exists is None:
        conn.execute(
            schemes.insert().values(
                sha256=sha256, id=scheme_id, name=name, year=year, text=text, created_at=now
            )
        )


# --- records ------------------------------------------------------------------------------------


def record_units(conn: Connection, *, kind: str, ids: Iterable[str]) -> dict[str, str]:
    """id → unit of the stored records of kind among ids."""
    found: dict[str, str] = {}
    for part in chunks(sorted(set(ids))):
        for row in conn.execute(
            select(records.c.rid, records.c.unit).where(and_(records.c.kind == kind, records.c.rid.in_(part)))
        ):
            found[row.rid] = row.unit
    return found


def record_ids_of_year(conn: Connection, *, kind: str, ids: Iterable[str], year: int) -> set[str]:
    """The ids among ids of stored records of kind that belong to year."""
    found: set[str] = set()
    for part in chunks(sorted(set(ids))):
        found |= set(
            conn.execute(
                select(records.c.rid).where(
                    and_(records.c.kind == kind, records.c.rid.in_(part), records.c.year == year)
                )
            ).scalars()
        )
    return found


def stored_payloads(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, bool]]:
    """(kind, id) → (canonical payload, voided) of the stored records among keys."""
    found: dict[tuple[str, str], tuple[str, bool]] = {}
    by_kind: dict[str, set[str]] = {}
    for kind, rid in keys:
        by_kind.setdefault(kind, set()).add(rid)
    for kind, ids in by_kind.items():
        for part in chunks(sorted(ids)):
            for row in conn.execute(
                select(records.c.rid, records.c.payload, records.c.voided).where(
                    and_(records.c.kind == kind, records.c.rid.in_(part))
                )
            ):
                found[(kind, row.rid)] = (row.payload, bool(row.voided))
    return found


def insert_records(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores new records, many rows in one statement."""
    if rows:
        conn.execute(records.insert(), list(rows))


def replace_voided(conn: Connection, row: Mapping[str, Any]) -> None:
    """Records anew, under its id, a record that was voided."""
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


def get_record(conn: Connection, *, kind: str, rid: str) -> Row[Any] | None:
    return conn.execute(select(records).where(and_(records.c.kind == kind, records.c.rid == rid))).first()


def record_unit_and_year(conn: Connection, *, kind: str, rid: str) -> tuple[str, int] | None:
    """(unit, year) of a stored record, None when there is none."""
    row = conn.execute(
        select(records.c.unit, records.c.year).where(and_(records.c.kind == kind, records.c.rid == rid))
    ).first()
    return (str(row.unit), int(row.year)) if row is not None else None


def list_records(
    conn: Connection, *, kind: str, unit: str, year: int, include_voided: bool, after: int, limit: int
) -> list[Row[Any]]:
    """Records in the order they were stored, after the sequence number after."""
    query = select(records).where(records.c.seq > after)
    if kind:
        query = query.where(records.c.kind == kind)
    if unit:
        query = query.where(records.c.unit == unit)
    if year:
        query = query.where(records.c.year == year)
    if not include_voided:
        query = query.where(records.c.voided.is_(False))
    return list(conn.execute(query.order_by(records.c.seq).limit(limit)))


def void_record(conn: Connection, *, kind: str, rid: str, reason: str, now: int) -> None:
    conn.execute(
        update(records)
        .where(and_(records.c.kind == kind, records.c.rid == rid))
        .values(voided=True, void_reason=reason, updated_at=now, version=records.c.version + 1)
    )


def set_payload(conn: Connection, *, kind: str, rid: str, payload: str, now: int) -> None:
    conn.execute(
        update(records)
        .where(and_(records.c.kind == kind, records.c.rid == rid))
        .values(payload=payload, updated_at=now, version=records.c.version + 1)
    )


def live_payloads(conn: Connection, *, kind: str) -> list[tuple[str, str]]:
    """(id, payload) of the records of kind that are not voided."""
    rows = conn.execute(
        select(records.c.rid, records.c.payload).where(
            and_(records.c.kind == kind, records.c.voided.is_(False))
        )
    )
    return [(r.rid, r.payload) for r in rows]


def scoring_records(conn: Connection) -> list[Row[Any]]:
    """Every record as (kind, rid, unit, payload, voided), in the order stored: what a run scores."""
    return list(
        conn.execute(
            select(
                records.c.kind, records.c.rid, records.c.unit, records.c.payload, records.c.voided
            ).order_by(records.c.seq)
        )
    )


# --- runs ---------------------------------------------------------------------------------------


def get_run(conn: Connection, run_id: str) -> Row[Any] | None:
    return conn.execute(select(runs).where(runs.c.id == run_id)).first()


def run_year(conn: Connection, run_id: str) -> int | None:
    year: int | None = conn.execute(select(runs.c.year).where(runs.c.id == run_id)).scalar()
    return year


def count_runs(conn: Connection, *, year: int) -> int:
    return int(conn.execute(select(func.count()).select_from(runs).where(runs.c.year == year)).scalar() or 0)


def insert_run(conn: Connection, **values: Any) -> None:
    conn.execute(runs.insert().values(**values))


def insert_run_lines(conn: Connection, *, run_id: str, parts: Sequence[Part]) -> None:
    """Stores a run's task lines, a row per part."""
    if parts:
        conn.execute(
            run_lines.insert(),
            [
                {
                    "run_id": run_id,
                    "first_unit": p.first_unit,
                    "units": p.units,
                    "arrays": p.arrays,
                    "data": p.data,
                }
                for p in parts
            ],
        )


def run_line_parts(conn: Connection, run_id: str) -> PartReader:
    """A reader of the run's task line parts holding any of the document's units first .. last - 1, read
    from conn when called, a row at a time."""

    def read(first: int, last: int) -> Iterator[Part]:
        query = (
            select(run_lines.c.first_unit, run_lines.c.units, run_lines.c.arrays, run_lines.c.data)
            .where(
                run_lines.c.run_id == run_id,
                run_lines.c.first_unit < last,
                run_lines.c.first_unit + run_lines.c.units > first,
            )
            .order_by(run_lines.c.first_unit)
            .execution_options(yield_per=2)
        )
        for row in conn.execute(query):
            yield Part(int(row.first_unit), int(row.units), row.arrays, bytes(row.data))

    return read


def mark_superseded(conn: Connection, *, run_id: str, by: str) -> None:
    """Marks one run superseded by another as a change of that run (its version moves)."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(superseded_by=by, version=runs.c.version + 1))


def published_of_year(conn: Connection, *, year: int, other_than: str) -> list[str]:
    """The publicised or final runs of year not superseded, oldest first."""
    return list(
        conn.execute(
            select(runs.c.id)
            .where(
                runs.c.year == year,
                runs.c.id != other_than,
                runs.c.superseded_by == "",
                runs.c.state.in_(PUBLISHED),
            )
            .order_by(runs.c.created_at, runs.c.id)
        ).scalars()
    )


def supersede_all(conn: Connection, *, run_ids: Sequence[str], by: str) -> None:
    """Marks runs superseded by another, leaving their versions (their numbers stay as they were)."""
    for part in chunks(list(run_ids)):
        conn.execute(update(runs).where(runs.c.id.in_(part)).values(superseded_by=by))


def transition(conn: Connection, *, run_id: str, version: int, values: Mapping[str, Any]) -> bool:
    """Changes a run if it is still at version; False when somebody changed it first."""
    result = conn.execute(
        update(runs)
        .where(and_(runs.c.id == run_id, runs.c.version == version))
        .values(version=version + 1, **values)
    )
    return result.rowcount == 1


def latest_run_id(conn: Connection, *, year: int, published_only: bool) -> str:
    """The newest run of year (only publicised or final ones when asked), empty when there is none."""
    query = select(runs.c.id).where(runs.c.year == year)
    if published_only:
        query = query.where(runs.c.state.in_(PUBLISHED))
    run_id = conn.execute(query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(1)).scalar()
    return str(run_id or "")


def list_runs(conn: Connection, *, year: int, published_only: bool, after: str, limit: int) -> list[Row[Any]]:
    query = select(runs)
    if year:
        query = query.where(runs.c.year == year)
    if published_only:
        query = query.where(runs.c.state.in_(PUBLISHED))
    if after:
        query = query.where(runs.c.id > after)
    return list(conn.execute(query.order_by(runs.c.id).limit(limit)))


def upheld_appeal_on(conn: Connection, *, kind: str, rid: str) -> str:
    """The id of a live, upheld appeal against (kind, rid) — which voids that record for scoring — or ""."""
    for appeal_id, text in live_payloads(conn, kind="appeal"):
        payload = json.loads(text)
        if payload.get("upheld") is True and appealed(payload) == (kind, rid):
            return str(appeal_id)
    return ""


def undecided_appeals(conn: Connection, *, year: int) -> list[str]:
    """The ids of the undecided appeals on records of year, sorted."""
    undecided: dict[str, tuple[str, str]] = {}
    for rid, text in live_payloads(conn, kind="appeal"):
        payload = json.loads(text)
        if payload.get("upheld") is None:
            undecided[rid] = appealed(payload)
    of_year = {
        (kind, rid)
        for kind in APPEAL_TARGETS
        for rid in record_ids_of_year(
            conn, kind=kind, ids={t for k, t in undecided.values() if k == kind}, year=year
        )
    }
    return sorted(rid for rid, key in undecided.items() if key in of_year)
