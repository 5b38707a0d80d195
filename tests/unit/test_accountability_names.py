"""An accountability record's optional person and deciding body (宁强 20): validated, stored when given."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.results.model import record_reason
from services.scoring.records import parse_record

from .scoring_builders import base_scheme_doc, scheme_from

RECORD = {"id": "A1", "unit": "fgj", "date": "2025-05-01", "kind": "interview", "reason": "工作约谈"}


def scheme() -> Any:
    doc = base_scheme_doc()
    doc["accountability"] = {"cap": 10, "kinds": {"interview": {"deduction": 1.0}}}
    return scheme_from(doc)


def test_person_and_deciding_body_are_stored_when_given() -> None:
    named = parse_record("accountability", {**RECORD, "person": "张三", "decided_by": "县纪委监委"}, scheme())
    assert named.payload["person"] == "张三" and named.payload["decided_by"] == "县纪委监委"


@pytest.mark.parametrize("empty", [{}, {"person": ""}, {"person": None, "decided_by": ""}])
def test_a_record_without_them_is_the_record_it_always_was(empty: dict[str, Any]) -> None:
    """Absent or empty: not stored, so an existing ledger's records stay byte for byte what they were."""
    plain = parse_record("accountability", {**RECORD, **empty}, scheme())
    assert set(plain.payload) == {"id", "unit", "date", "kind", "reason"}
    assert plain.canonical() == parse_record("accountability", RECORD, scheme()).canonical()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("person", 7),
        ("person", "   "),
        ("decided_by", "县纪委\n监委"),
        ("person", "张" * 65),
        ("decided_by", True),
    ],
)
def test_a_bad_person_or_deciding_body_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_record("accountability", {**RECORD, field: value}, scheme(), line=3)
    assert refused.value.violations[0].field == f"line 3: {field}"


def test_other_records_do_not_take_them() -> None:
    incentive = {"id": "J1", "unit": "fgj", "date": "2025-05-01", "level": "county", "reason": "表彰"}
    with pytest.raises(InvalidArgument) as refused:
        parse_record("incentive", {**incentive, "person": "张三"}, scheme())
    assert "person" in refused.value.violations[0].field


def test_the_documents_reason_names_them() -> None:
    fields = {**RECORD, "person": "张三", "decided_by": "县纪委监委"}
    assert record_reason("accountability", fields) == "工作约谈；当事人：张三；决定机关：县纪委监委"
    assert record_reason("accountability", RECORD) == "工作约谈"
    assert record_reason("error_report", {"description": "口径不一", "person": "x"}) == "口径不一"
