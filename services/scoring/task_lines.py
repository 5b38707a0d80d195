"""A run's timeliness lines kept as columns: how a stored run holds a million breakdown lines cheaply.

A run's document is stored with every unit's breakdown but its `tasks` lines; those are kept beside, in
the same document under `task_lines`, as compressed numpy columns (grouped by unit in the document's order),
and turned back into the lines of FORMATS.md only for the units a reader asks a breakdown of. The lines
come back exactly as Assessment.document() writes them: same values, same order, same float bits.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from services.common.timeutil import iso_many

FORMAT = "kaohe.task-lines.v1"
KEY = "task_lines"


def pack_lines(
    *,
    zone: str,
    bounds: np.ndarray,
    task: list[str],
    lead: np.ndarray,
    priority: np.ndarray,
    priority_names: tuple[str, ...],
    weight: np.ndarray,
    credit: np.ndarray,
    late: np.ndarray,
    tolerance: np.ndarray,
    tolerances: dict[int, tuple[str, str]],
    due: np.ndarray,
    reported: np.ndarray,
    points: np.ndarray,
    verified: np.ndarray | None = None,
    extended: np.ndarray | None = None,
) -> dict[str, Any]:
    """The task lines of a document as one JSON-able block; bounds[j]:bounds[j + 1] are the lines of the
    document's j-th unit, in the order its breakdown lists them before sorting."""
    arrays = {
        "bounds": np.asarray(bounds, dtype="<i8"),
        "lengths": np.fromiter(map(len, task), dtype="<i8", count=len(task)),
        "text": np.frombuffer("".join(task).encode("utf-8"), dtype=np.uint8),
        "lead": np.asarray(lead, dtype=bool),
        "priority": np.asarray(priority, dtype="<i4"),
        "weight": np.asarray(weight, dtype="<f8"),
        "credit": np.asarray(credit, dtype="<f8"),
        "late": np.asarray(late, dtype="<i8"),
        "tolerance": np.asarray(tolerance, dtype="<i8"),
        "due": np.asarray(due, dtype="<i8"),
        "reported": np.asarray(reported, dtype="<i8"),
        "points": np.asarray(points, dtype="<f8"),
    }
    # Runs stored before verification and extensions were kept have neither: expand_lines leaves them out.
    if verified is not None:
        arrays["verified"] = np.asarray(verified, dtype=bool)
    if extended is not None:
        arrays["extended"] = np.asarray(extended, dtype=bool)
    # One deflate stream over the arrays' bytes as they lie: no uncompressed copy of them all at once.
    deflate = zlib.compressobj(1)
    pieces = []
    for array in arrays.values():
        view = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        for start in range(0, len(view), 1 << 24):
            pieces.append(deflate.compress(view[start : start + (1 << 24)].data))
    pieces.append(deflate.flush())
    return {
        "format": FORMAT,
        "zone": zone,
        "priorities": list(priority_names),
        "tolerances": {str(row): list(pair) for row, pair in tolerances.items()},
        "arrays": [[name, array.dtype.str, len(array)] for name, array in arrays.items()],
        "data": base64.b64encode(b"".join(pieces)).decode("ascii"),
    }


def expand_lines(units: list[dict[str, Any]], block: dict[str, Any], positions: list[int]) -> None:
    """Puts back the `tasks` lines, first in each breakdown, of units: the document's entries at positions."""
    col = _columns(block)
    text = col["text"].tobytes().decode("utf-8")
    starts = np.concatenate([[0], np.cumsum(col["lengths"])]).tolist()
    tz = ZoneInfo(block["zone"])
    names = block["priorities"]
    tolerances = {int(row): {"id": pair[0], "decision": pair[1]} for row, pair in block["tolerances"].items()}
    bounds = col["bounds"].tolist()
    for entry, j in zip(units, positions, strict=True):
        breakdown = entry.get("breakdown")
        if breakdown is None:
            continue
        lo, hi = bounds[j], bounds[j + 1]
        ks = range(hi - lo)
        task = [text[starts[k] : starts[k + 1]] for k in range(lo, hi)]
        due = col["due"][lo:hi]
        due_at = due.tolist()
        lead = col["lead"][lo:hi].tolist()
        priority = col["priority"][lo:hi].tolist()
        weight = col["weight"][lo:hi].tolist()
        credit = col["credit"][lo:hi].tolist()
        late = col["late"][lo:hi].tolist()
        tolerance = col["tolerance"][lo:hi].tolist()
        points = col["points"][lo:hi].tolist()
        verified = col["verified"][lo:hi].tolist() if "verified" in col else None
        extended = col["extended"][lo:hi].tolist() if "extended" in col else None
        due_iso = iso_many(due, tz)
        reported_iso = iso_many(col["reported"][lo:hi], tz)
        order = sorted(ks, key=lambda k: (due_at[k], task[k], not lead[k]))
        lines = [
            {
                "task": task[k],
                "role": "lead" if lead[k] else "co",
                "priority": names[priority[k]],
                "weight": weight[k],
                "due_at": due_iso[k],
                "reported_at": reported_iso[k],
                "late_working_days": None if late[k] < 0 else late[k],
                "credit": credit[k],
                "tolerance": tolerances.get(tolerance[k]),
                "points": points[k],
                **(
                    {
                        "verified": verified[k] if late[k] >= 0 else None,
                        "extended": extended[k] if extended is not None else False,
                    }
                    if verified is not None
                    else {}
                ),
            }
            for k in order
        ]
        entry["breakdown"] = {"tasks": lines, **{k: v for k, v in breakdown.items() if k != "tasks"}}


def counted_reports(block: dict[str, Any]) -> list[tuple[str, int]]:
    """(task, the instant of the report that counted, NO_TIME when none) of every task line of a run."""
    col = _columns(block)
    text = col["text"].tobytes().decode("utf-8")
    starts = np.concatenate([[0], np.cumsum(col["lengths"])]).tolist()
    tasks = [text[starts[k] : starts[k + 1]] for k in range(len(starts) - 1)]
    return list(zip(tasks, col["reported"].tolist(), strict=True))


def _columns(block: dict[str, Any]) -> dict[str, np.ndarray]:
    """The block's arrays by name, in native byte order."""
    if block.get("format") != FORMAT:
        raise ValueError(f"unknown task lines format {block.get('format')!r}")
    data = zlib.decompress(base64.b64decode(block["data"]))
    col: dict[str, np.ndarray] = {}
    offset = 0
    for name, dtype, length in block["arrays"]:
        array = np.frombuffer(data, dtype=np.dtype(dtype), count=int(length), offset=offset)
        col[name] = array.astype(array.dtype.newbyteorder("="), copy=False)
        offset += array.nbytes
    return col
