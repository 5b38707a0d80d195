"""The kernel's scheme-table lookups and the tolerance decisions (exempt, mitigate) that apply to rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from services.common.errors import FieldViolation, InvalidArgument, SchemeInvalid
from services.scoring.columns import ToleranceRows
from services.scoring.task_ids import TaskIds

NO_DECISION, EXEMPT, MITIGATE = 0, 1, 2
_DECISIONS = {"exempt": EXEMPT, "mitigate": MITIGATE}


# --- lookups ----------------------------------------------------------------------------------


def lookup(
    values: np.ndarray, table: Mapping[str, float], *, key: str, noun: str, record: str, ids: np.ndarray
) -> np.ndarray:
    """table[value] for each value; SchemeInvalid naming every value the scheme does not know."""
    out = np.full(len(values), np.nan)
    known = np.zeros(len(values), dtype=bool)
    for name, number in table.items():
        hit = values == name
        out[hit] = number
        known |= hit
    if not known.all():
        refuse_unknown(
            ((str(values[i]), str(ids[i])) for i in np.flatnonzero(~known)), key=key, noun=noun, record=record
        )
    return out


def refuse_unknown(used: Iterable[tuple[str, str]], *, key: str, noun: str, record: str) -> None:
    """SchemeInvalid naming each (value, the first record using it) the scheme's key has no entry for."""
    unknown: dict[str, str] = {}
    for value, by in used:
        unknown.setdefault(value, by)
    raise SchemeInvalid(
        [FieldViolation(key, f"没有{noun}“{v}”的条目（{record} {r} 用到）") for v, r in unknown.items()]
    )


def chosen_tolerances(tol: ToleranceRows, target_type: str) -> dict[tuple[int, str], int]:
    """The decision that stands per (unit, target): the latest by date, ties to the later record."""
    chosen: dict[tuple[int, str], int] = {}
    if not len(tol):
        return chosen
    order = np.lexsort((np.arange(len(tol)), tol.date.astype(np.int64)))
    for i in order[tol.target_type[order] == target_type]:
        chosen[(int(tol.unit[i]), str(tol.target[i]))] = int(i)
    return chosen


def match_tolerances(
    units: np.ndarray,
    ids: np.ndarray | TaskIds,
    chosen: Mapping[tuple[int, str], int],
    n_units: int,
    id_rows: np.ndarray | None = None,
) -> np.ndarray:
    """For each row (unit code, target id) the tolerance row that applies to it, -1 for none.

    Row k's id is ids[k], or ids[id_rows[k]] when id_rows is given (ids are then gathered only
    for the rows of units that have decisions).
    """
    out = np.full(len(units), -1, dtype=np.int64)
    if not chosen or not len(units):
        return out
    involved = np.zeros(n_units, dtype=bool)
    involved[[u for u, _ in chosen]] = True
    candidates = np.flatnonzero(involved[units])
    if not candidates.size:
        return out
    # Only the rows of units that have decisions are compared, one unit's rows per decision.
    order = candidates[np.argsort(units[candidates], kind="stable")]
    bounds = np.searchsorted(units[order], np.arange(n_units + 1), "left").tolist()
    for (u, target), row in chosen.items():
        segment = order[bounds[u] : bounds[u + 1]]
        at = segment if id_rows is None else id_rows[segment]
        # Task ids are decoded only for the rows of the one unit a decision names.
        segment_ids = ids.decode(at) if isinstance(ids, TaskIds) else ids[at]
        out[segment[segment_ids == target]] = row
    return out


def decision_codes(tol: ToleranceRows) -> np.ndarray:
    codes = np.zeros(len(tol), dtype=np.int64)
    for name, code in _DECISIONS.items():
        codes[tol.decision == name] = code
    if len(tol) and (codes == NO_DECISION).any():
        bad = tol.decision[codes == NO_DECISION][0]
        raise InvalidArgument(
            "tolerances.decision", f"未知的决定“{bad}”：须为 exempt（免责）或 mitigate（减轻）"
        )
    return codes


def apply_decisions(credit: np.ndarray, decision: np.ndarray, mitigation_factor: float) -> np.ndarray:
    return np.where(
        decision == EXEMPT,
        1.0,
        np.where(decision == MITIGATE, 1.0 - (1.0 - credit) * mitigation_factor, credit),
    )
