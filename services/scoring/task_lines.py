"""A run's timeliness lines kept as columns: how a stored run holds ten million breakdown lines cheaply.

A run's document is stored with every unit's breakdown but its `tasks` lines. Those are kept as compressed
numpy columns in parts of consecutive units (in the document's order of units), each part a row of the
run_lines table (format v2); the document keeps only a small header under `task_lines`. Runs stored before
that table kept all their lines in the header as one base64 text value (format v1); both read back the same.
Lines are turned back into the lines of FORMATS.md only for the units a reader asks a breakdown of, and
come back exactly as Assessment.document() writes them: same values, same order, same float bits.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from services.common.timeutil import iso_many

FORMAT_V1 = "kaohe.task-lines.v1"  # the lines inline, base64 (runs stored before the run_lines table)
FORMAT = "kaohe.task-lines.v2"  # the lines in run_lines parts
KEY = "task_lines"
# A part ends at the first unit boundary after this many lines: a unit's breakdown reads one part or a few.
PART_LINES = 1 << 16
# Past the last unit of any document (an Integer column's largest value).
EVERY = 2**31 - 1


@dataclass(frozen=True)
class Part:
    """The lines of the document's units first_unit .. first_unit + units - 1, as one row of run_lines:
    arrays names each array (name, dtype, length) in the order its bytes lie in data, one deflate stream."""

    first_unit: int
    units: int
    arrays: str
    data: bytes


# (first, last): the parts holding any of the document's units first .. last - 1, in order.
PartReader = Callable[[int, int], Iterable[Part]]


def header(
    *, zone: str, priority_names: tuple[str, ...], tolerances: dict[int, tuple[str, str]]
) -> dict[str, Any]:
    """What the document keeps under KEY: how to read the parts (their zone, priorities and tolerances)."""
    return {
        "format": FORMAT,
        "zone": zone,
        "priorities": list(priority_names),
        "tolerances": {str(row): list(pair) for row, pair in tolerances.items()},
    }


def pack_part(first_unit: int, bounds: np.ndarray, arrays: dict[str, np.ndarray]) -> Part:
    """One part: bounds[j]:bounds[j + 1] are the lines of its j-th unit (from 0), in the order its
    breakdown lists them before sorting; arrays the lines' columns, `text` the ids' UTF-8 back to back and
    `lengths` each id's length in bytes."""
    columns = {"bounds": np.asarray(bounds, dtype="<i8"), **arrays}
    layout = [[name, array.dtype.str, len(array)] for name, array in columns.items()]
    deflate = zlib.compressobj(1)
    pieces = [
        deflate.compress(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data) for a in columns.values()
    ]
    pieces.append(deflate.flush())
    return Part(first_unit, len(bounds) - 1, json.dumps(layout), b"".join(pieces))


def split(counts: np.ndarray, part_lines: int = PART_LINES) -> Iterator[tuple[int, int]]:
    """(first, last) unit positions of each part, units taken in order until a part holds part_lines lines
    (a unit's lines are never split); no part when there are no units."""
    ends = np.cumsum(counts)
    first, n = 0, len(counts)
    while first < n:
        before = int(ends[first - 1]) if first else 0
        last = int(np.searchsorted(ends, before + part_lines, "left")) + 1
        last = min(max(last, first + 1), n)
        yield first, last
        first = last


class _Lines:
    """One part's columns (or a v1 block's, all units in one), read for breakdowns."""

    def __init__(self, col: dict[str, np.ndarray], *, first_unit: int, text_is_utf8: bool) -> None:
        self.col = col
        self.first_unit = first_unit
        self.bounds = col["bounds"].tolist()
        starts = np.zeros(len(col["lengths"]) + 1, dtype=np.int64)
        np.cumsum(col["lengths"], out=starts[1:])
        self.starts = starts
        raw = col["text"].tobytes()
        # v2 keeps each id's length in bytes, v1 in characters of the decoded text.
        self.text: bytes | str = raw if text_is_utf8 else raw.decode("utf-8")

    @property
    def last_unit(self) -> int:
        return self.first_unit + len(self.bounds) - 1

    def span(self, position: int) -> tuple[int, int]:
        j = position - self.first_unit
        return self.bounds[j], self.bounds[j + 1]

    def tasks(self, lo: int, hi: int) -> list[str]:
        starts, text = self.starts[lo : hi + 1].tolist(), self.text
        if isinstance(text, bytes):
            return [text[starts[k] : starts[k + 1]].decode("utf-8") for k in range(hi - lo)]
        return [text[starts[k] : starts[k + 1]] for k in range(hi - lo)]


def expand_lines(
    units: list[dict[str, Any]], block: dict[str, Any], positions: list[int], parts: PartReader | None
) -> None:
    """Puts back the `tasks` lines, first in each breakdown, of units: the document's entries at positions
    (ascending); parts reads the run's stored parts (format v2)."""
    wanted = [
        (entry, j) for entry, j in zip(units, positions, strict=True) if entry.get("breakdown") is not None
    ]
    if not wanted:
        return
    tz = ZoneInfo(block["zone"])
    names = block["priorities"]
    tolerances = {int(row): {"id": pair[0], "decision": pair[1]} for row, pair in block["tolerances"].items()}
    pending = iter(wanted)
    item = next(pending, None)
    for lines in _read(block, parts, wanted[0][1], wanted[-1][1] + 1):
        while item is not None and item[1] < lines.last_unit:
            entry, j = item
            lo, hi = lines.span(j)
            entry["breakdown"] = {
                "tasks": _unit_lines(lines, lo, hi, tz, names, tolerances),
                **{k: v for k, v in entry["breakdown"].items() if k != "tasks"},
            }
            item = next(pending, None)


def _unit_lines(
    lines: _Lines, lo: int, hi: int, tz: ZoneInfo, names: list[str], tolerances: dict[int, dict[str, str]]
) -> list[dict[str, Any]]:
    col = lines.col
    ks = range(hi - lo)
    task = lines.tasks(lo, hi)
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
    return [
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
            # Runs stored before verification and extensions were kept have neither.
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


def counted_reports(block: dict[str, Any], parts: PartReader | None) -> Iterator[tuple[str, int]]:
    """(task, the instant of the report that counted, NO_TIME when none) of every task line of a run."""
    for lines in _read(block, parts, 0, EVERY):
        yield from zip(lines.tasks(0, len(lines.starts) - 1), lines.col["reported"].tolist(), strict=True)


def _read(block: dict[str, Any], parts: PartReader | None, first: int, last: int) -> Iterator[_Lines]:
    """The lines of the document's units first .. last - 1, part by part (a v1 block is one part)."""
    kind = block.get("format")
    if kind == FORMAT_V1:
        data = zlib.decompress(base64.b64decode(block["data"]))
        yield _Lines(_columns(block["arrays"], data), first_unit=0, text_is_utf8=False)
        return
    if kind != FORMAT or parts is None:
        raise ValueError(f"unknown task lines format {kind!r}")
    for part in parts(first, last):
        col = _columns(json.loads(part.arrays), zlib.decompress(part.data))
        yield _Lines(col, first_unit=part.first_unit, text_is_utf8=True)


def _columns(layout: list[list[Any]], data: bytes) -> dict[str, np.ndarray]:
    """The arrays of layout out of data, by name, in native byte order."""
    col: dict[str, np.ndarray] = {}
    offset = 0
    for name, dtype, length in layout:
        array = np.frombuffer(data, dtype=np.dtype(dtype), count=int(length), offset=offset)
        col[name] = array.astype(array.dtype.newbyteorder("="), copy=False)
        offset += array.nbytes
    return col
