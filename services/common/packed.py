"""Columns between services as packed little-endian numpy buffers, strings dictionary-encoded.

A column travels as (name, dtype, length, data, values, dictionary): numbers and booleans as the bytes of a
little-endian array; a string column as the int32 index of each row into its distinct values. Nothing here
steps through rows in Python: encoding maps over a dict in C, decoding is np.frombuffer and a take.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.common.errors import InvalidArgument

# The dtypes a packed column may carry: what the decoder accepts, nothing it has to guess about.
DTYPES = frozenset({"<i8", "<i4", "|b1", "<f8"})
# Each dtype's code on the wire (a PackedDtype enum value's code), and back.
DTYPE_CODES = {"<i8": "int64", "<i4": "int32", "|b1": "bool", "<f8": "float64"}
DTYPE_OF_CODE = {code: dtype for dtype, code in DTYPE_CODES.items()}


@dataclass(frozen=True)
class Strings:
    """A dictionary-encoded string column: codes (int32, one per row) into values (distinct, or one a row
    where nearly every row has its own, as task ids)."""

    codes: np.ndarray
    values: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def decode(self) -> np.ndarray:
        """The column as an object array of str (a take in C, not a step per row)."""
        return np.array(self.values, dtype=object)[self.codes] if self.values else self.codes.astype(object)

    @staticmethod
    def encode(values: Iterable[str]) -> Strings:
        index: defaultdict[str, int] = defaultdict(int)
        index.default_factory = index.__len__
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32)
        return Strings(codes, list(index))

    @staticmethod
    def concat(parts: Sequence[Strings]) -> Strings:
        """One column of several chunks' columns, their dictionaries merged."""
        if len(parts) == 1:
            return parts[0]
        index: dict[str, int] = {}
        codes = []
        for part in parts:
            remap = np.fromiter(
                (index.setdefault(v, len(index)) for v in part.values), dtype=np.int32, count=len(part.values)
            )
            codes.append(remap[part.codes] if len(part.codes) else part.codes)
        return Strings(np.concatenate(codes) if codes else np.zeros(0, np.int32), list(index))


Column = np.ndarray | Strings


@dataclass(frozen=True)
class Packed:
    """One packed column, as it goes into and comes out of a message."""

    name: str
    dtype: str
    length: int
    data: bytes
    values: list[str]
    dictionary: bool

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "length": self.length,
            "data": self.data,
            "values": self.values,
            "dictionary": self.dictionary,
        }


def pack(name: str, column: Column) -> Packed:
    """A column as packed bytes: little-endian whatever the machine."""
    if isinstance(column, Strings):
        codes = np.ascontiguousarray(column.codes, dtype="<i4")
        return Packed(name, "<i4", len(codes), codes.tobytes(), column.values, True)
    array = np.asarray(column)
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder not in ("|", "<") else array.dtype
    data = np.ascontiguousarray(array, dtype=dtype)
    if data.dtype.str not in DTYPES:
        raise ValueError(f"column {name}: dtype {data.dtype.str} cannot be packed")
    return Packed(name, data.dtype.str, len(data), data.tobytes(), [], False)


def unpack(
    name: str, dtype: str, length: int, data: bytes, values: Sequence[str], dictionary: bool
) -> Column:
    """A packed column back as an array (read-only, over the message's bytes) or as Strings."""
    if dtype not in DTYPES:
        raise InvalidArgument(name, f"数据类型 {dtype!r} 不在 {sorted(DTYPES)} 之中")
    array = np.frombuffer(data, dtype=np.dtype(dtype))
    if len(array) != length:
        raise InvalidArgument(name, f"有 {len(array)} 行，与所说的 {length} 行不符")
    if not dictionary:
        return array.astype(array.dtype.newbyteorder("="), copy=False)
    codes = array.astype(np.int32, copy=False)
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= len(values)):
        raise InvalidArgument(name, f"编号超出了它的 {len(values)} 个取值")
    return Strings(codes, list(values))


def concat(parts: Sequence[Column]) -> Column:
    """Chunks of one column as one column."""
    if parts and isinstance(parts[0], Strings):
        return Strings.concat([p for p in parts if isinstance(p, Strings)])
    return np.concatenate([np.asarray(p) for p in parts])
