"""Units by level, as the office reads them: county departments, then each 乡镇 with its 村 under it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

COUNTY = "县直部门"
TOWNSHIPS = "乡镇（含所辖村、社区）"


def by_level(
    items: Sequence[T],
    parents: Mapping[str, str],
    *,
    unit_of: Callable[[T], str],
    category_of: Callable[[T], str],
) -> list[tuple[str, list[tuple[int, T]]]]:
    """(section, [(depth, item)]) in reading order; an item under a unit not among items stays on top."""
    shown = {unit_of(i) for i in items}
    children: dict[str, list[T]] = {}
    top: list[T] = []
    for item in items:
        parent = parents.get(unit_of(item), "")
        if parent and parent in shown:
            children.setdefault(parent, []).append(item)
        else:
            top.append(item)

    def tree(item: T, depth: int) -> list[tuple[int, T]]:
        rows = [(depth, item)]
        for child in children.get(unit_of(item), []):
            rows += tree(child, depth + 1)
        return rows

    county = [i for i in top if category_of(i) != "township" and unit_of(i) not in children]
    townships = [i for i in top if not any(i is c for c in county)]
    sections = [(COUNTY, county), (TOWNSHIPS, townships)]
    return [(title, [r for i in members for r in tree(i, 0)]) for title, members in sections if members]
