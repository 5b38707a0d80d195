"""Task ids as integer codes (TaskIds): the same ids, bytes and digest as the Python strings they replace."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.packed import Strings
from services.scoring import task_ids
from services.scoring.columns import TaskRows
from services.scoring.task_ids import TaskIds, encoded, hash_joined

IDS = ["T1", "任务-甲", "", "T22", "x" * 300, "T1"]


def test_ids_read_back_as_given_each_distinct_one_stored_once() -> None:
    ids = TaskIds.of(IDS)
    assert ids.tolist() == IDS
    assert [ids[k] for k in range(len(IDS))] == IDS
    assert ids.codes[0] == ids.codes[-1]
    assert len(ids.offsets) == len(set(IDS)) + 1
    assert ids.take(np.array([4, 1])).tolist() == ["x" * 300, "任务-甲"]
    assert ids.decode(np.array([True, False, False, True, False, False])).tolist() == ["T1", "T22"]


def test_utf8_gives_the_rows_bytes_back_to_back_and_their_lengths_in_bytes() -> None:
    text, lengths = TaskIds.of(IDS).utf8(np.array([3, 1, 0, 2]))
    assert text.tobytes() == "T22任务-甲T1".encode()
    assert lengths.tolist() == [3, len("任务-甲".encode()), 2, 0]


def test_chunks_concatenated_keep_their_rows_in_order() -> None:
    chunk = Strings.encode(IDS[3:])
    parts = [TaskIds.of(IDS[:3]), TaskIds.from_dictionary(chunk.codes, chunk.values), TaskIds.of([])]
    assert TaskIds.concat(parts).tolist() == IDS
    assert TaskIds.concat([]).tolist() == []


@given(st.lists(st.text(max_size=12), max_size=40), st.integers(min_value=1, max_value=7))
def test_the_digest_is_the_joined_texts_whatever_the_blocks(ids: list[str], block: int) -> None:
    """What input_digest hashed before: "\\x1f".join(ids).encode(), whatever BLOCK cuts it into."""
    ids = [i.replace("\x00", "") for i in ids]
    want = hashlib.sha256("\x1f".join(ids).encode()).hexdigest()
    before = task_ids.BLOCK
    task_ids.BLOCK = block
    try:
        got = hashlib.sha256()
        TaskIds.of(ids).hash_joined(got)
    finally:
        task_ids.BLOCK = before
    assert got.hexdigest() == want


def test_a_dictionarys_names_hash_as_joined_per_row() -> None:
    got = hashlib.sha256()
    hash_joined(got, np.array([1, 0, 1], dtype=np.int32), *encoded(["normal", "important"]))
    assert got.hexdigest() == hashlib.sha256(b"important\x1fnormal\x1fimportant").hexdigest()


def test_task_rows_take_ids_as_strings_or_as_codes() -> None:
    columns = {
        "unit": [0, 1],
        "is_lead": [True, False],
        "priority": ["normal", "normal"],
        "assigned_at": [0, 0],
        "due_at": [1, 1],
        "reported_at": [1, 1],
        "cancelled_at": [-1, -1],
    }
    as_strings = TaskRows(task_id=["T1", "T1"], **columns)  # type: ignore[arg-type]
    as_codes = TaskRows(task_id=TaskIds.of(["T1", "T1"]), **columns)  # type: ignore[arg-type]
    assert as_strings.task_id.tolist() == as_codes.task_id.tolist() == ["T1", "T1"]
    with pytest.raises(ValueError, match="rows"):
        TaskRows(task_id=["T1"], **columns)  # type: ignore[arg-type]


def test_the_input_digest_is_the_one_runs_stored_before_task_ids_were_codes() -> None:
    """input_digest as it was written over Python strings (task ids and priority names joined), redone here:
    a run's digest says whether two runs scored the same inputs, across versions too."""
    import json
    from datetime import datetime
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from services.scoring.inputs import input_digest

    from .scoring_builders import base_scheme_doc, scheme_from

    scheme = scheme_from(base_scheme_doc())
    as_of = datetime(2025, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))
    facts = TaskRows(
        task_id=["T1", "任务-甲", "T1", "T3"],
        unit=[0, 1, 1, 0],
        is_lead=[True, True, False, True],
        priority=["normal", "important", "normal", "normal"],
        assigned_at=[1, 2, 1, 3],
        due_at=[10, 20, 10, 30],
        reported_at=[5, -1, 5, 40],
        cancelled_at=[-1, -1, -1, -1],
    )
    units = [("a", "甲", "department"), ("b", "乙", "township")]
    rows = [SimpleNamespace(kind="tolerance", rid="R1", unit="a", payload="{}", voided=False)]
    want = hashlib.sha256()
    want.update(json.dumps([units, 2025, int(as_of.timestamp()), scheme.sha256], ensure_ascii=False).encode())
    want.update("\x1f".join(["T1", "任务-甲", "T1", "T3"]).encode())
    want.update("\x1f".join(["normal", "important", "normal", "normal"]).encode())
    for column in (facts.unit, facts.is_lead, facts.assigned_at, facts.due_at, facts.reported_at):
        want.update(np.ascontiguousarray(column, dtype="<i8").tobytes())
    want.update(np.ascontiguousarray(facts.cancelled_at, dtype="<i8").tobytes())
    want.update(json.dumps(["tolerance", "R1", "a", "{}", False], ensure_ascii=False).encode())
    got = input_digest(unit_rows=units, year=2025, as_of=as_of, scheme=scheme, facts=facts, rows=rows)
    assert got == want.hexdigest()
