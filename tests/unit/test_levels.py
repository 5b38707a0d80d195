"""The overview by level: county departments first, each 乡镇 with its 村 folded under it."""

from __future__ import annotations

from typing import Any

from services.cli import levels


def standing(unit: str, name: str, category: str) -> dict[str, Any]:
    return {
        "unit": unit,
        "name": name,
        "category": category,
        "open_blue": 0,
        "open_yellow": 0,
        "open_red": 1,
        "on_time_rate": -1,
        "error_reports": 0,
        "indicators": [],
        "provisional_total": 90.0,
        "provisional_rank": 1,
        "provisional_grade": "excellent",
    }


UNITS = [
    standing("c1", "东村", "village"),
    standing("fgj", "发改局", "department"),
    standing("z1", "城关镇", "township"),
    standing("z2", "大安镇", "township"),
    standing("c2", "西村", "village"),
]
PARENTS = {"c1": "z1", "c2": "z2", "fgj": "", "z1": "", "z2": ""}


def test_departments_then_each_township_with_its_villages() -> None:
    sections = levels.by_level(UNITS, PARENTS)
    assert [(title, [(d, u["unit"]) for d, u in rows]) for title, rows in sections] == [
        (levels.COUNTY, [(0, "fgj")]),
        (levels.TOWNSHIPS, [(0, "z1"), (1, "c1"), (0, "z2"), (1, "c2")]),
    ]


def test_a_village_whose_township_is_not_shown_stays_on_top() -> None:
    sections = levels.by_level([UNITS[0]], PARENTS)
    assert [(title, [u["unit"] for _, u in rows]) for title, rows in sections] == [(levels.COUNTY, ["c1"])]


def test_the_text_folds_villages_under_their_township() -> None:
    text = levels.overview({"year": 2026, "as_of": "x", "scheme": "s", "units": UNITS}, PARENTS)
    lines = text.splitlines()
    town = next(i for i, line in enumerate(lines) if "城关镇" in line)
    assert levels.FOLD + "东村" in lines[town + 1]
    assert (
        text.index(levels.COUNTY) < text.index("发改局") < text.index(levels.TOWNSHIPS) < text.index("城关镇")
    )
