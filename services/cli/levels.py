"""The office's overview by level: county departments, then each 乡镇 with its 村 folded under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.cli import render
from services.common import levels
from services.common.vocabulary import COLOURS, GRADES, UNIT_CATEGORIES

COUNTY = levels.COUNTY
TOWNSHIPS = levels.TOWNSHIPS
# A 村 row's name is set under its 乡镇's.
FOLD = "　└ "


def by_level(
    units: Sequence[Mapping[str, Any]], parents: Mapping[str, str]
) -> list[tuple[str, list[tuple[int, Mapping[str, Any]]]]]:
    """(section, [(depth, unit)]) of the overview's units (see services/common/levels)."""
    return levels.by_level(
        units, parents, unit_of=lambda u: str(u["unit"]), category_of=lambda u: str(u.get("category", ""))
    )


def overview(data: Mapping[str, Any], parents: Mapping[str, str]) -> str:
    """The overview's table, one section per level, each 乡镇's 村 indented under it."""
    headers = [
        "单位",
        "类别",
        *COLOURS.values(),
        "按时率",
        "差错",
        "未达标指标",
        "预估总分",
        "预估排名",
        "预估等次",
    ]
    parts = [f"{data.get('year')} 年度实时态势（截至 {data.get('as_of')}，方案 {data.get('scheme')}）"]
    for title, rows in by_level(data.get("units", []), parents):
        parts.append(f"\n{title}")
        parts.append(
            render.table(
                headers,
                [
                    [
                        FOLD * min(depth, 1) + "　" * max(depth - 1, 0) + str(u["name"]),
                        UNIT_CATEGORIES.get(u["category"], u["category"]),
                        u["open_blue"],
                        u["open_yellow"],
                        u["open_red"],
                        render._rate(u["on_time_rate"]),
                        u["error_reports"],
                        sum(1 for i in u["indicators"] if i["status"] in ("below", "missing")),
                        render.num(u["provisional_total"]),
                        u["provisional_rank"],
                        GRADES.get(u["provisional_grade"], ""),
                    ]
                    for depth, u in rows
                ],
                numeric={2, 3, 4, 6, 7, 8, 9},
            )
        )
    return "\n".join(parts)
