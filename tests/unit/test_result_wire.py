"""The result as Result messages: through the wire and back, the document is the kernel's, byte for byte."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from services.common.errors import InvalidArgument
from services.common.result_wire import result_to_json_dict, result_to_message
from services.common.scheme import Scheme
from services.scoring.domain import Inputs, score
from tests.conftest import example_path

from .scoring_builders import LedgerBuilder
from .test_example import example  # noqa: F401 (the worked example's fixture)
from .test_scoring_property import cases
from .test_task_lines import read, stored_and_scored

ZONE = "Asia/Shanghai"


def through_the_wire(document: dict[str, Any]) -> dict[str, Any]:
    wire = result_to_message(document, timezone=ZONE).SerializeToString()
    return result_to_json_dict(type(result_to_message(document, timezone=ZONE)).FromString(wire))


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1)


def test_the_worked_example_comes_back_byte_for_byte(
    example: tuple[Scheme, Inputs, dict[str, Any], datetime],  # noqa: F811
) -> None:
    scheme, inputs, expected, as_of = example
    for breakdown in (True, False):
        document = score(inputs, scheme, year=expected["year"], as_of=as_of).document(
            include_breakdown=breakdown
        )
        assert text(through_the_wire(document)) == text(document)
        # A preview narrowed to one unit, and a run's document with its run, state, digest and calendar.
        one = {**document, "units": document["units"][:1]}
        assert text(through_the_wire(one)) == text(one)
        run = {
            "run": "2025-001",
            "state": "publicised",
            **document,
            "scheme_sha256": "0" * 64,
            "calendar": [
                {"year": 2024, "source": "builtin"},
                {"year": 2025, "source": "notice", "notice_sha256": "ab"},
            ],
        }
        assert text(through_the_wire(run)) == text(run)


def test_expected_json_round_trips_with_ints_as_ints_and_floats_as_floats() -> None:
    expected = json.loads(example_path("expected.json").read_text(encoding="utf-8"))
    document = {**expected, "interim": False}
    document = {k: document[k] for k in ("year", "scheme", "as_of", "interim", "calendar_warnings", "units")}
    back = through_the_wire(document)
    assert back == document
    for unit in back["units"]:
        assert type(unit["rank"]) is int and type(back["year"]) is int
        assert all(
            type(unit[k]) is float for k in ("total", "base", "bonus", "timeliness_max", "metrics_max")
        )
        assert type(unit["veto"]) is bool


def test_every_kind_of_breakdown_line_as_a_run_serves_it() -> None:
    stored, scored = stored_and_scored()
    served = read(stored, unit="", breakdown=True)
    assert text(through_the_wire(served)) == text(served)
    assert text(through_the_wire(scored)) == text(scored)
    for unit in ("a", "c"):
        one = read(stored, unit=unit, breakdown=True)
        assert text(through_the_wire(one)) == text(one)


def test_lines_stored_before_verified_and_extended_keep_their_shape() -> None:
    _, scored = stored_and_scored()
    for unit in scored["units"]:
        for line in unit["breakdown"]["tasks"]:
            del line["verified"], line["extended"]
        del unit["nothing_assessed"]
    del scored["interim"]
    back = through_the_wire(scored)
    assert text({k: v for k, v in back.items() if k != "interim"}) == text(scored)


def test_an_unknown_grade_is_refused_naming_the_field() -> None:
    _, scored = stored_and_scored()
    scored["units"][0]["grade"] = "outstanding"
    with pytest.raises(InvalidArgument, match="grade"):
        result_to_message(scored, timezone=ZONE)


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(cases())
def test_generated_ledgers_come_back_byte_for_byte(
    case: tuple[Scheme, LedgerBuilder, int, datetime | None],
) -> None:
    scheme, b, year, as_of = case
    document = score(b.inputs(), scheme, year=year, as_of=as_of).document()
    back = result_to_json_dict(result_to_message(document, timezone=scheme.tz.key))
    assert text(back) == text(document)
