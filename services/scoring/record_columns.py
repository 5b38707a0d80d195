"""The kernel's record tables from the stored records: live records of known units, appeals resolved."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from services.common.vocabulary import RECORD_KINDS
from services.scoring.columns import (
    AccountabilityRows,
    ErrorRows,
    IncentiveRows,
    Inputs,
    ReadingRows,
    TargetRows,
    TaskRows,
    ToleranceRows,
    UnitTable,
)
from services.scoring.records import appealed


def build_inputs(
    unit_rows: list[tuple[str, str, str]], unit_index: dict[str, int], facts: TaskRows, rows: Sequence[Any]
) -> Inputs:
    """Kernel inputs from the units, the task facts and the stored records (appeals resolved)."""
    cols = _record_values(unit_index, rows)

    def column(table: str, key: str, dtype: Any) -> np.ndarray:
        return np.array(cols[table].get(key, []), dtype=dtype)

    units = UnitTable(
        ids=[u for u, _, _ in unit_rows],
        names=[n for _, n, _ in unit_rows],
        categories=[c for _, _, c in unit_rows],
    )
    return Inputs(units=units, tasks=facts, **_record_tables(column))


def _upheld(rows: Sequence[Any]) -> set[tuple[str, str]]:
    """(kind, id) of the records a live, upheld appeal contests: they are void for scoring."""
    upheld: set[tuple[str, str]] = set()
    for row in rows:
        if row.kind == "appeal" and not row.voided:
            payload = json.loads(row.payload)
            if payload.get("upheld") is True:
                upheld.add(appealed(payload))
    return upheld


def _record_values(unit_index: dict[str, int], rows: Sequence[Any]) -> dict[str, dict[str, list[Any]]]:
    """kind → field → the values of the live records of known units, in the order stored."""
    upheld = _upheld(rows)
    cols: dict[str, dict[str, list[Any]]] = {k: {} for k in RECORD_KINDS}
    for row in rows:
        if row.voided or row.unit not in unit_index:
            continue
        values = _values(row.kind, row.rid, unit_index[row.unit], json.loads(row.payload), upheld)
        for key, value in (values or {}).items():
            cols[row.kind].setdefault(key, []).append(value)
    return cols


def _values(
    kind: str, rid: str, code: int, p: dict[str, Any], upheld: set[tuple[str, str]]
) -> dict[str, Any] | None:
    """The kernel's fields of one record of kind (its unit as code); None for a kind the kernel reads not."""
    if kind == "error_report":
        return {
            "id": rid,
            "unit": code,
            "date": p["date"],
            "category": p["category"],
            "severity": p["severity"],
            "voided": ("error_report", rid) in upheld,
        }
    if kind == "metric_reading":
        return {
            "unit": code,
            "metric": p["metric"],
            "period": p["period"],
            "value": p.get("value", np.nan),
            "numerator": p.get("numerator", np.nan),
            "denominator": p.get("denominator", np.nan),
        }
    if kind == "incentive":
        return {"id": rid, "unit": code, "date": p["date"], "level": p["level"]}
    if kind == "tolerance":
        return {
            "id": rid,
            "unit": code,
            "target_type": p["target_type"],
            "target": p["target"],
            "decision": p["decision"],
            "date": p["date"],
        }
    if kind == "accountability":
        voided = ("accountability", rid) in upheld
        return {"id": rid, "unit": code, "date": p["date"], "kind": p["kind"], "voided": voided}
    if kind == "target":
        floor = p.get("floor", np.nan)
        return {"unit": code, "metric": p["metric"], "year": p["year"], "target": p["target"], "floor": floor}
    return None


def _record_tables(column: Callable[[str, str, Any], np.ndarray]) -> dict[str, Any]:
    """The kernel's record tables (Inputs' fields) from column(kind, field, dtype)."""
    day = "datetime64[D]"
    return {
        "errors": ErrorRows(
            id=column("error_report", "id", object),
            unit=column("error_report", "unit", np.int64),
            date=column("error_report", "date", day),
            category=column("error_report", "category", object),
            severity=column("error_report", "severity", object),
            voided=column("error_report", "voided", bool),
        ),
        "readings": ReadingRows(
            unit=column("metric_reading", "unit", np.int64),
            metric=column("metric_reading", "metric", object),
            period=column("metric_reading", "period", object),
            value=column("metric_reading", "value", float),
            numerator=column("metric_reading", "numerator", float),
            denominator=column("metric_reading", "denominator", float),
        ),
        "incentives": IncentiveRows(
            id=column("incentive", "id", object),
            unit=column("incentive", "unit", np.int64),
            date=column("incentive", "date", day),
            level=column("incentive", "level", object),
        ),
        "tolerances": ToleranceRows(
            id=column("tolerance", "id", object),
            unit=column("tolerance", "unit", np.int64),
            target_type=column("tolerance", "target_type", object),
            target=column("tolerance", "target", object),
            decision=column("tolerance", "decision", object),
            date=column("tolerance", "date", day),
        ),
        "accountability": AccountabilityRows(
            id=column("accountability", "id", object),
            unit=column("accountability", "unit", np.int64),
            date=column("accountability", "date", day),
            kind=column("accountability", "kind", object),
            voided=column("accountability", "voided", bool),
        ),
        "targets": TargetRows(
            unit=column("target", "unit", np.int64),
            metric=column("target", "metric", object),
            year=column("target", "year", np.int64),
            target=column("target", "target", float),
            floor=column("target", "floor", float),
        ),
    }
