"""Data functions of people and levels: persons (责任人) and the units' parents. They never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from services.common.db import chunks
from services.tasks.storage.tables import persons, units


@dataclass(frozen=True)
class PersonRow:
    id: str
    name: str
    unit: str
    post: str
    leader: bool
    mobile: str


def _person(r: Any) -> PersonRow:
    return PersonRow(r.id, r.name, r.unit_id, r.post, bool(r.leader), r.mobile or "")


def unit_parents(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """id → parent ("" when none) of the stored units among ids."""
    found: dict[str, str] = {}
    for part in chunks(sorted(set(ids))):
        for row in conn.execute(select(units.c.id, units.c.parent).where(units.c.id.in_(part))):
            found[row.id] = row.parent or ""
    return found


def all_unit_parents(conn: Connection) -> dict[str, str]:
    """id → parent ("" when none) of every unit: a county has ~100, a province a few thousand."""
    return {row.id: row.parent or "" for row in conn.execute(select(units.c.id, units.c.parent))}


def units_below(conn: Connection, unit: str) -> list[str]:
    """The units whose parent is unit (a 乡镇's 村), by id."""
    query = select(units.c.id).where(units.c.parent == unit).order_by(units.c.id)
    return list(conn.execute(query).scalars())


def persons_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, PersonRow]:
    found: dict[str, PersonRow] = {}
    for part in chunks(sorted(set(ids))):
        for row in conn.execute(select(persons).where(persons.c.id.in_(part))):
            found[row.id] = _person(row)
    return found


def list_persons(conn: Connection, *, units_in: Sequence[str] | None) -> list[PersonRow]:
    """Every person, or those of units_in, by unit then id."""
    query = select(persons)
    if units_in is not None:
        query = query.where(persons.c.unit_id.in_(list(units_in)))
    return [_person(r) for r in conn.execute(query.order_by(persons.c.unit_id, persons.c.id))]
