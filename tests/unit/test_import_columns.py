"""The batch checks of a ledger import (services/tasks/handlers/import_fast.py) agree with the line checks."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import jsonlines
from services.tasks import ledger
from services.tasks.handlers import import_fast


@given(
    title=st.text(min_size=1, max_size=40),
    source=st.text(max_size=10),
    co=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), max_size=3, unique=True),
    due=st.one_of(st.none(), st.integers(1_735_000_000, 1_800_000_000)),
)
def test_a_canonical_record_is_written_as_the_task_record_writes_it(
    title: str, source: str, co: list[str], due: int | None
) -> None:
    assigned = 1_735_000_000
    lead = "lead0" if "lead0" not in co else "lead1"
    record = ledger.TaskRecord(
        1,
        "T1",
        title,
        "leader_directive",
        lead,
        tuple(co),
        "normal",
        datetime.fromtimestamp(assigned).astimezone(),
        datetime.fromtimestamp(due).astimezone() if due is not None else None,
        source,
    )
    written = import_fast.canonical(
        id="T1",
        title=title,
        task_type="leader_directive",
        lead_unit=lead,
        co_units=co,
        priority="normal",
        assigned_at=assigned,
        due_at=due,
        source=source,
    )
    assert written == record.canonical()


@pytest.mark.parametrize(
    "line",
    [
        '{"a":1,"a":2}',
        '{"a":"x","a":"x"}',
        '{"a":"say \\"hi\\"","a":"y"}',
        '{"a":"k\\":","b":"c"}',
        '{"a":1.5}',
        '{"a":' + "9" * 31 + "}",
        '{"a":[["x"]]}',
        '{"a":{"b":1}}',
        '["a"]',
        '\ufeff{"a":1}',
        '{"a":"\\ud800"}',
    ],
)
def test_an_uncommon_line_is_left_to_the_strict_decoder(line: str) -> None:
    assert jsonlines.common_object(line) is None


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"task","id":"T1","co_units":["a","b"],"due_at":null,"n":12,"ok":true}',
        '{"title":"落实\\"批示\\"：一","note":"a\\nb"}',
        '{ "a" : "x" ,  "b" :[ ] }',
    ],
)
def test_a_common_line_decodes_as_json_decodes_it(line: str) -> None:
    assert jsonlines.common_object(line) == json.loads(line)


def test_instants_are_epoch_seconds_of_what_they_write() -> None:
    written = ["2025-03-05T09:00:00+08:00", "2024-02-29T23:59:59-05:30", "2100-12-31T00:00:00+00:00"]
    expected = [int(datetime.fromisoformat(w).timestamp()) for w in written]
    assert import_fast.instants(written).tolist() == expected
    for odd in (["2025-02-30T09:00:00+08:00"], ["1989-12-31T09:00:00+08:00"], ["2025-03-05T09:00:00Z"]):
        with pytest.raises(import_fast.Declined):
            import_fast.instants(odd)


def test_ids_are_of_the_safe_alphabet_one_by_one() -> None:
    assert import_fast.ids(["T1", "a.b-c_d"]) == ["T1", "a.b-c_d"]
    for odd in (["T1\nT2"], ["T 1"], ["-T"], ["x" * 65], [1]):
        with pytest.raises(import_fast.Declined):
            import_fast.ids(odd)
