"""Task ids as integer codes into one UTF-8 buffer: a province's ten million without a Python string each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# Rows gathered at once when ids are written out back to back: bounds the index arrays a gather makes.
BLOCK = 1 << 18


class Digest(Protocol):
    def update(self, data: Any, /) -> None: ...


@dataclass(frozen=True, eq=False)
class TaskIds:
    """Row k's id is the codes[k]-th of the distinct ids, which lie back to back in data as UTF-8:
    id c is data[offsets[c]:offsets[c + 1]]. Rows of one task (the lead and its co-units) share a code."""

    codes: np.ndarray  # int64, one per row
    data: np.ndarray  # uint8
    offsets: np.ndarray  # int64, one more than the distinct ids

    @staticmethod
    def of(values: Iterable[str]) -> TaskIds:
        """Ids given as strings (tests, small callers), each distinct one stored once."""
        index: dict[str, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64)
        return TaskIds.from_dictionary(codes, list(index))

    @staticmethod
    def from_dictionary(codes: np.ndarray, values: Sequence[str]) -> TaskIds:
        """A dictionary-encoded column (codes into values), as a chunk of facts brings it."""
        joined = "".join(values)
        data = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
        if len(data) == len(joined):
            # Every id is ASCII (a character more than one byte would make the bytes outnumber them).
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        else:
            lengths = np.fromiter((len(v.encode("utf-8")) for v in values), dtype=np.int64, count=len(values))
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TaskIds(np.asarray(codes, dtype=np.int64), data, offsets)

    @staticmethod
    def concat(parts: Sequence[TaskIds]) -> TaskIds:
        """One column of several chunks' columns: their dictionaries laid one after the other."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return TaskIds.of(())
        code_shift = np.cumsum([0] + [len(p.offsets) - 1 for p in parts[:-1]])
        byte_shift = np.cumsum([0] + [len(p.data) for p in parts[:-1]])
        offsets = np.concatenate(
            [p.offsets[:-1] + shift for p, shift in zip(parts, byte_shift, strict=True)]
            + [np.array([byte_shift[-1] + len(parts[-1].data)], dtype=np.int64)]
        )
        return TaskIds(
            np.concatenate([p.codes + shift for p, shift in zip(parts, code_shift, strict=True)]),
            np.concatenate([p.data for p in parts]),
            offsets,
        )

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, k: int) -> str:
        code = int(self.codes[k])
        return self.data[self.offsets[code] : self.offsets[code + 1]].tobytes().decode("utf-8")

    def take(self, rows: np.ndarray) -> TaskIds:
        """The ids of rows (a boolean mask or row numbers), sharing this column's buffer."""
        return TaskIds(self.codes[rows], self.data, self.offsets)

    def decode(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The ids of rows (all when None) as an object array of str: for a few rows, not for millions."""
        codes = self.codes if rows is None else self.codes[rows]
        out = np.empty(len(codes), dtype=object)
        data, offsets = self.data, self.offsets
        out[:] = [data[offsets[c] : offsets[c + 1]].tobytes().decode("utf-8") for c in codes.tolist()]
        return out

    def tolist(self) -> list[str]:
        return list(self.decode())

    def utf8(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The UTF-8 bytes of the ids of rows (all when None) back to back, and each one's length in bytes."""
        codes = self.codes if rows is None else self.codes[rows]
        starts = self.offsets[codes]
        lengths = self.offsets[codes + 1] - starts
        return gather(self.data, starts, lengths), lengths

    def hash_joined(self, digest: Digest, separator: bytes = b"\x1f") -> None:
        """digest.update of separator.join(the ids).encode(), block by block: never the whole text at once."""
        hash_joined(digest, self.codes, self.data, self.offsets, separator)


def hash_joined(
    digest: Digest, codes: np.ndarray, data: np.ndarray, offsets: np.ndarray, separator: bytes = b"\x1f"
) -> None:
    """digest.update of separator.join(value c for c in codes), value c data[offsets[c]:offsets[c + 1]]."""
    n = len(codes)
    for first in range(0, n, BLOCK):
        block = codes[first : first + BLOCK]
        starts = offsets[block]
        text = gather(data, starts, offsets[block + 1] - starts, separator)
        # Each id is followed by the separator; the join has none after the last.
        digest.update(text[:-1].data if first + BLOCK >= n and len(text) else text.data)


def encoded(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A few strings (a dictionary's values) as (UTF-8 bytes back to back, offsets)."""
    pieces = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in pieces], out=offsets[1:])
    return np.frombuffer(b"".join(pieces), dtype=np.uint8), offsets


def gather(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, separator: bytes = b"") -> np.ndarray:
    """data[starts[k]:starts[k] + lengths[k]] for every k, back to back, each followed by separator (none or
    one byte); BLOCK rows at a time, so the index arrays stay small whatever the number of rows."""
    if len(separator) > 1:
        raise ValueError("gather takes a separator of at most one byte")
    step = lengths + len(separator)
    ends = np.cumsum(step)
    out = np.full(int(ends[-1]) if len(ends) else 0, separator[0] if separator else 0, dtype=np.uint8)
    for first in range(0, len(lengths), BLOCK):
        length = lengths[first : first + BLOCK]
        total = int(length.sum())
        if not total:
            continue
        begin = ends[first : first + BLOCK] - step[first : first + BLOCK]
        # Each byte's place within its id, then where it comes from and where it goes.
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(length) - length, length)
        out[np.repeat(begin, length) + within] = data[
            np.repeat(starts[first : first + BLOCK], length) + within
        ]
    return out
