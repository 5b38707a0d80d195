"""The overdue trend on the console: each unit's overdue open tasks at each month-end, as a line chart.

The chart draws the units with most overdue tasks (TOP of them: 40 lines in one chart are unreadable), a
search finds any unit by name, and the table under it holds every unit's line.

Its lines go by level as the office reads them (services/common/levels): county departments, then each
乡镇 with its 村 under it; `?level=` picks one level's lines (a 乡镇's: it and its 村).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup
from starlette.requests import Request

from services.common import levels
from services.common.wire_text import as_text
from services.web.edge import typed_code
from services.web.gateway import Gateway, Pending
from services.web.layout import LOCAL
from services.web.sessions import Session
from services.web.templating import fragment


def start_trend(gw: Gateway, session: Session, *, year: int = 0, unit: str = "", period: str = "") -> Pending:
    """The trend asked for now, read later (a page's other calls go out meanwhile)."""
    return gw.start(
        gw.tasks.GetOverdueTrend,
        tasks_pb2.GetOverdueTrendRequest(
            year=year, unit=unit, period=typed_code(tasks_pb2.TrendPeriod.DESCRIPTOR, period, "period")
        ),
        session.token,
    )


def start_units(gw: Gateway, session: Session) -> Pending:
    """The units the caller may list (their categories and parents place the trend's lines by level)."""
    return gw.start(gw.tasks.ListUnits, tasks_pb2.ListUnitsRequest(page_size=5000), session.token)


def unit_levels(reply: Any) -> dict[str, tuple[str, str]]:
    """unit id → (category, parent unit id), from a ListUnits answer."""
    return {u.id: (u.category, u.parent) for u in reply.units}


def unit_tree(gw: Gateway, session: Session) -> dict[str, tuple[str, str]]:
    """unit id → (category, parent unit id) of the units the caller may list, asked now."""
    return unit_levels(start_units(gw, session).result())


def parents_of(tree: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """unit id → parent unit id ("" for none)."""
    return {unit: parent for unit, (_, parent) in tree.items()}


# `?level=` values besides a 乡镇's id: every line, the county departments', the 乡镇 with their 村.
ALL_LEVELS, COUNTY, TOWNSHIPS = "", "county", "townships"


def level_choices(reply: Any, tree: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(value, label) of each level the trend's lines can be shown by; one of them only: none."""
    sections = _sections(reply, tree)
    keys = {levels.COUNTY: COUNTY, levels.TOWNSHIPS: TOWNSHIPS}
    choices = [(ALL_LEVELS, "全部")] + [(keys[title], title) for title, _ in sections]
    for title, members in sections:
        for i, (depth, s) in enumerate(members):
            below = i + 1 < len(members) and members[i + 1][0] > depth
            if title == levels.TOWNSHIPS and depth == 0 and below:
                choices.append((s.unit, f"{s.name or s.unit}（含所辖村、社区）"))
    return choices if len(choices) > 2 else []


def _sections(reply: Any, tree: Mapping[str, tuple[str, str]]) -> list[tuple[str, list[tuple[int, Any]]]]:
    return levels.by_level(
        list(reply.units),
        parents_of(tree),
        unit_of=lambda s: s.unit,
        category_of=lambda s: tree.get(s.unit, ("", ""))[0],
    )


def _of_level(
    reply: Any, tree: Mapping[str, tuple[str, str]], level: str
) -> list[tuple[str, list[tuple[int, Any]]]]:
    """The sections with only the chosen level's lines (a 乡镇's: it and the 村 under it)."""
    chosen = []
    for title, members in _sections(reply, tree):
        if level in (ALL_LEVELS, COUNTY if title == levels.COUNTY else TOWNSHIPS):
            chosen.append((title, members))
            continue
        start = next((i for i, (d, s) in enumerate(members) if d == 0 and s.unit == level), None)
        if start is not None:
            end = next((j for j in range(start + 1, len(members)) if members[j][0] == 0), len(members))
            chosen.append((title, members[start:end]))
    return chosen


def point_label(instant: str) -> str:
    """A point as people read it: the date whose end it is ("1月31日"); the year so far, its own date."""
    moment = datetime.fromisoformat(instant)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        moment -= timedelta(seconds=1)
    return f"{moment.month}月{moment.day}日"


# The chart draws this many lines at most (the units with most overdue tasks); the table holds them all.
TOP = 10


def _ranked(shown: list[Any]) -> list[Any]:
    """All of a few units (in the table's order), else those with most overdue tasks at the last point
    (then at their worst), most first."""
    if len(shown) <= TOP:
        return shown
    return sorted(shown, key=lambda s: (-s.overdue[-1] if s.overdue else 0, -max(s.overdue, default=0)))[:TOP]


def _found(
    sections: list[tuple[str, list[tuple[int, Any]]]], sought: str
) -> list[tuple[str, list[tuple[int, Any]]]]:
    """The sections' units whose name (or id) holds the text sought."""
    sought = sought.casefold()
    found = []
    for title, members in sections:
        kept = [
            (d, s) for d, s in members if sought in (s.name or "").casefold() or sought in s.unit.casefold()
        ]
        if kept:
            found.append((title, kept))
    return found


def _same_page(request: Request, drop: str, add: dict[str, str]) -> str:
    """The page's own address with its query but `drop`, and `add`."""
    query = {k: v for k, v in request.query_params.items() if k != drop} | add
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path


def _table_rows(sections: list[tuple[str, list[tuple[int, Any]]]], names: list[str]) -> list[dict[str, Any]]:
    """The data table's lines: a level's heading (when there are several), then its units."""
    rows: list[dict[str, Any]] = []
    for title, members in sections:
        if len(sections) > 1:
            rows.append({"heading": title})
        for depth, s in members:
            cells = list(zip(s.overdue, names, strict=False))
            rows.append(
                {"heading": "", "unit": s.unit, "name": s.name or s.unit, "depth": depth, "cells": cells}
            )
    return rows


def _search(request: Request | None, units: int, sought: str) -> dict[str, Any] | None:
    """The search by name, on a page with more units than the chart draws (or searched already)."""
    if request is None or (units <= TOP and not sought):
        return None
    return {
        "path": request.url.path,
        "kept": [(k, v) for k, v in request.query_params.items() if k != "trend_q"],
        "sought": sought,
        "clear": _same_page(request, "trend_q", {}),
    }


def trend_chart(
    reply: Any, *, tree: Mapping[str, tuple[str, str]] | None = None, request: Request | None = None
) -> Markup:
    """The lines of the units with most overdue tasks (a department's page holds its own, a 乡镇's its 村's
    too), every unit in the data table below.

    With the units' tree (unit → category, parent), the data table goes by level, each 村 under its 乡镇;
    with the request, `?level=` picks the lines of one level and `?trend_q=` finds units by name.
    """
    reply = as_text(reply, LOCAL)
    ends = "每周末" if reply.period == "week" else "每月末"
    if not reply.points:
        return fragment("office/trend.html", has_points=False, ends=ends)
    tree = tree or {}
    choices = level_choices(reply, tree) if request is not None else []
    level = request.query_params.get("level", "") if request is not None else ""
    level = level if any(value == level for value, _ in choices) else ALL_LEVELS
    sections = _of_level(reply, tree, level)
    everyone = [s for _, members in sections for _, s in members]
    sought = request.query_params.get("trend_q", "").strip() if request is not None else ""
    if sought:
        sections = _found(sections, sought)
    shown = [s for _, members in sections for _, s in members]
    names = [point_label(p) for p in reply.points]
    drawn = _ranked(shown)
    label = f"{'各单位' if len(shown) != 1 else '本单位'}逾期事项数（{ends}）"
    if level:
        label += f"：{dict(choices)[level]}"
    search = _search(request, len(everyone), sought)
    return fragment(
        "office/trend.html",
        has_points=True,
        ends=ends,
        choices=[(v, text, _same_page(request, "level", {"level": v} if v else {})) for v, text in choices]
        if request is not None
        else [],
        level=level,
        search=search,
        names=names,
        lines=[{"unit": s.unit, "name": s.name or s.unit, "values": list(s.overdue)} for s in drawn],
        drawn=len(drawn),
        total=len(shown),
        label=label,
        chart_label=label if len(drawn) == len(shown) else f"{label}：逾期最多的 {len(drawn)} 个单位",
        rows=_table_rows(sections, names),
    )


def trend_period(request: Request) -> str:
    """The trend's period a page was asked for: `?trend=week` for week-ends, else month-ends."""
    return "week" if request.query_params.get("trend") == "week" else "month"


def trend_switch(request: Request, period: str) -> Markup:
    """A link to the same page with the trend by the other period (the year kept)."""
    other = "month" if period == "week" else "week"
    text = "按月末查看" if other == "month" else "按周末查看"
    return fragment(
        "office/trend_switch.html", href=_same_page(request, "trend", {"trend": other}), text=text
    )
