"""The oracle itself: the worked example of the spec, and generated cases that are reproducible."""

from __future__ import annotations

import json

from tests.conftest import example_path
from tests.oracle.generate import edge_case, generate
from tests.oracle.reference import load_ledger, load_scheme, score


def test_the_oracle_reproduces_the_worked_example() -> None:
    result = score(load_scheme(example_path("scheme.toml")), load_ledger(example_path("ledger.jsonl")), 2025)
    expected = json.loads(example_path("expected.json").read_text(encoding="utf-8"))
    got = {u["unit"]: u for u in result["units"]}
    assert set(got) == {u["unit"] for u in expected["units"]}
    for want in expected["units"]:
        mine = got[want["unit"]]
        for key, value in want.items():
            if key in ("unit", "name", "category", "total", "rank", "grade", "veto"):
                assert mine[key] == value, (want["unit"], key)
            else:
                assert abs(mine[key] - value) < 1e-9, (want["unit"], key)
    assert result["calendar_warnings"] == []


def test_generated_cases_are_reproducible_and_score() -> None:
    for seed in (1, 2):
        case = generate(seed)
        assert (
            case.ledger_lines == generate(seed).ledger_lines
            and case.scheme_toml == generate(seed).scheme_toml
        )
        scheme, records = load_scheme(case.scheme_toml), load_ledger(case.ledger_lines)
        assert len({(r["type"], r.get("id")) for r in records if "id" in r}) == sum(
            1 for r in records if "id" in r
        )
        for as_of in case.as_ofs:
            assert score(scheme, records, case.year, as_of)["units"]
    uncovered = generate(101, year=2027)
    assert score(load_scheme(uncovered.scheme_toml), load_ledger(uncovered.ledger_lines), 2027)[
        "calendar_warnings"
    ] == [2027]
    edges = edge_case()
    totals = {
        u["unit"]: u["total"]
        for u in score(load_scheme(edges.scheme_toml), load_ledger(edges.ledger_lines), 2025)["units"]
    }
    assert totals["r1"] == 99.9 and totals["r5"] == 100.02 and totals["f2"] == 90.0
