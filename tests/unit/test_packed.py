"""Columns between services: packed little-endian buffers and dictionary-encoded strings, as sent."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.errors import InvalidArgument
from services.common.packed import Strings, concat, pack, unpack


def roundtrip(name: str, column: np.ndarray | Strings) -> np.ndarray | Strings:
    p = pack(name, column)
    return unpack(p.name, p.dtype, p.length, p.data, p.values, p.dictionary)


def test_numbers_and_flags_come_back_as_sent_and_little_endian_on_the_wire() -> None:
    times = np.array([np.iinfo(np.int64).min, 0, 1_767_225_599, -1], dtype=np.int64)
    p = pack("due_at", times)
    assert (p.dtype, p.length, p.data[:8]) == ("<i8", 4, bytes(7) + b"\x80")
    assert roundtrip("due_at", times).tolist() == times.tolist()  # type: ignore[union-attr]
    # A big-endian array goes out little-endian all the same.
    assert roundtrip("due_at", times.astype(">i8")).tolist() == times.tolist()  # type: ignore[union-attr]
    flags = np.array([True, False, True])
    assert roundtrip("is_lead", flags).tolist() == [True, False, True]  # type: ignore[union-attr]


def test_strings_are_dictionary_encoded_and_merged_across_chunks() -> None:
    first, second = Strings.encode(["u1", "财政局", "u1"]), Strings.encode(["u2", "u1"])
    assert first.values == ["u1", "财政局"] and first.codes.tolist() == [0, 1, 0]
    back = roundtrip("unit", first)
    assert isinstance(back, Strings) and back.decode().tolist() == ["u1", "财政局", "u1"]
    merged = concat([first, second])
    assert isinstance(merged, Strings)
    assert merged.values == ["u1", "财政局", "u2"]
    assert merged.decode().tolist() == ["u1", "财政局", "u1", "u2", "u1"]


def test_a_column_that_does_not_hold_what_it_says_is_refused_naming_it() -> None:
    p = pack("due_at", np.arange(3, dtype=np.int64))
    with pytest.raises(InvalidArgument, match="due_at"):
        unpack("due_at", p.dtype, 4, p.data, [], False)
    with pytest.raises(InvalidArgument, match="数据类型"):
        unpack("due_at", "<U4", 3, p.data, [], False)
    codes = pack("unit", Strings(np.array([0, 2], dtype=np.int32), ["a", "b"]))
    with pytest.raises(InvalidArgument, match="unit"):
        unpack("unit", codes.dtype, codes.length, codes.data, codes.values, True)
