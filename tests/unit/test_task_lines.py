"""A stored run keeps its task lines as columns; read back, its breakdowns are the scored document's."""

from __future__ import annotations

import json
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.common.errors import NotFound
from services.common.result_wire import result_to_json_dict, result_to_message
from services.scoring.domain import Assessment, score
from services.scoring.task_lines import FORMAT, FORMAT_V1, Part, PartReader, split
from services.scoring.views import run_view
from tests.conftest import example_path

from .scoring_builders import LedgerBuilder, base_scheme_doc, scheme_from

SH = ZoneInfo("Asia/Shanghai")


def at(m: int, d: int, h: int = 23, mi: int = 59) -> datetime:
    return datetime(2025, m, d, h, mi, 59 if (h, mi) == (23, 59) else 0, tzinfo=SH)


def assessed() -> Assessment:
    """A ledger with every kind of line, scored."""
    b = LedgerBuilder()
    for u in ("a", "b", "c", "空"):
        b.unit(u)
    # Same due instant, ids out of order, a co-unit row of the same task: the breakdown's sort decides.
    b.task("T9", "a", due=at(3, 3), reported=at(3, 3, 18, 0))
    b.task("T10", "a", due=at(3, 3), reported=at(3, 5, 10, 0), co=("b",))
    b.task("任务-甲", "a", due=at(2, 1), co=("c",))
    b.task("T2", "b", due=at(3, 3, 10, 0), reported=at(3, 3, 14, 0))
    b.task("T3", "c", due=at(4, 1), reported=at(4, 30, 9, 0))
    b.tolerance("R1", "a", "task", "T10", "mitigate", date(2025, 3, 10))
    b.tolerance("R2", "c", "task", "任务-甲", "exempt", date(2025, 3, 10))
    return score(b.inputs(), scheme_from(base_scheme_doc()), year=2025, as_of=at(12, 31))


def stored_and_scored(part_lines: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the document as a run row holds it, with its parts under "parts" as run_lines would, the document as
    scored); parts of part_lines lines (at least a unit each), so that units fall in several."""
    assessment = assessed()
    stored = json.loads(json.dumps({"run": "2025-001", **assessment.stored_document()}, ensure_ascii=False))
    return {**stored, "parts": list(assessment.stored_parts(part_lines))}, assessment.document(
        include_breakdown=True
    )


def reader(parts: list[Part]) -> PartReader:
    """The parts as the repository reads them from run_lines: those holding any of units first .. last - 1."""
    return lambda first, last: [p for p in parts if p.first_unit < last and p.first_unit + p.units > first]


def read(stored: dict[str, Any], *, unit: str, breakdown: bool) -> dict[str, Any]:
    parts = stored.get("parts", [])
    stored = {k: v for k, v in stored.items() if k != "parts"}
    row = SimpleNamespace(
        id="2025-001",
        state="draft",
        year=2025,
        scheme_id="s",
        scheme_sha256="0" * 64,
        as_of=0,
        input_digest="",
        supersedes="",
        superseded_by="",
        created_at=0,
        published_at=None,
        finalized_at=None,
        appeal_deadline=None,
        document=json.dumps(stored, ensure_ascii=False),
        version=1,
        duration_seconds=0.0,
    )
    view = run_view(row, SH, unit=unit, breakdown=breakdown, with_document=True, parts=reader(parts))
    assert view.document is not None
    # As the service sends it: through the Result message and back.
    document = result_to_json_dict(result_to_message(view.document, timezone="Asia/Shanghai"))
    return document


def test_every_breakdown_reads_back_as_scored_to_the_bit() -> None:
    stored, scored = stored_and_scored()
    assert all("tasks" not in u["breakdown"] for u in stored["units"])
    got = read(stored, unit="", breakdown=True)
    # The same text: values, float bits, key order and the lines' order.
    assert json.dumps(got["units"], ensure_ascii=False) == json.dumps(scored["units"], ensure_ascii=False)
    assert "task_lines" not in got
    lines = {t["task"]: t for u in got["units"] if u["unit"] == "a" for t in u["breakdown"]["tasks"]}
    assert [t["task"] for u in got["units"] if u["unit"] == "a" for t in u["breakdown"]["tasks"]] == [
        "任务-甲",
        "T10",
        "T9",
    ]
    assert lines["T10"]["tolerance"] == {"id": "R1", "decision": "mitigate"}


@pytest.mark.parametrize("unit", ["a", "b", "c", "空"])
def test_one_units_breakdown_reads_back_as_scored(unit: str) -> None:
    stored, scored = stored_and_scored()
    (want,) = [u for u in scored["units"] if u["unit"] == unit]
    assert read(stored, unit=unit, breakdown=True)["units"] == [want]
    without = {k: v for k, v in want.items() if k != "breakdown"}
    assert read(stored, unit=unit, breakdown=False)["units"] == [without]


def test_an_unknown_unit_is_not_found() -> None:
    stored, _ = stored_and_scored()
    with pytest.raises(NotFound):
        read(stored, unit="nobody", breakdown=True)


def test_parts_hold_whole_units_in_the_documents_order() -> None:
    assert list(split(np.array([3, 0, 1, 1, 5, 0]), 2)) == [(0, 1), (1, 4), (4, 5), (5, 6)]
    assert list(split(np.array([1, 1, 1]), 1 << 16)) == [(0, 3)]
    assert list(split(np.zeros(0, dtype=np.int64), 2)) == []
    stored, _ = stored_and_scored(part_lines=2)
    assert stored["task_lines"]["format"] == FORMAT
    assert "data" not in stored["task_lines"]
    parts = stored["parts"]
    assert [p.first_unit for p in parts] == sorted(p.first_unit for p in parts)
    assert sum(p.units for p in parts) == len(stored["units"])
    assert len(parts) > 1


@pytest.mark.parametrize("part_lines", [1, 3, 1 << 16])
def test_every_part_size_reads_back_as_scored(part_lines: int) -> None:
    stored, scored = stored_and_scored(part_lines)
    got = read(stored, unit="", breakdown=True)
    assert json.dumps(got["units"], ensure_ascii=False) == json.dumps(scored["units"], ensure_ascii=False)
    for unit in ("a", "b", "c", "空"):
        assert read(stored, unit=unit, breakdown=True)["units"] == [
            u for u in scored["units"] if u["unit"] == unit
        ]


def test_a_run_stored_in_the_old_layout_reads_back_as_the_ledger_scores_now() -> None:
    """tests/data/run_document_v1.json: the lines inline as base64 (before run_lines), no parts."""
    old = json.loads(example_path("run_document_v1.json").read_text(encoding="utf-8"))
    assert old["task_lines"]["format"] == FORMAT_V1
    _, scored = stored_and_scored()
    got = read(old, unit="", breakdown=True)
    assert json.dumps(got["units"], ensure_ascii=False) == json.dumps(scored["units"], ensure_ascii=False)
    assert read(old, unit="c", breakdown=True)["units"] == [u for u in scored["units"] if u["unit"] == "c"]
