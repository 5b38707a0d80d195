"""The overdue trend on the console: each unit's overdue open tasks at each month-end, as a line chart.

Its lines go by level as the office reads them (services/common/levels): county departments, then each
乡镇 with its 村 under it; `?level=` picks one level's lines (a 乡镇's: it and its 村).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request

from services.common import levels
from services.common.wire_text import as_text
from services.web.edge import typed_code
from services.web.gateway import Gateway, Pending
from services.web.layout import LOCAL, chart, esc, row, table, unit_attrs
from services.web.sessions import Session


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


def level_switch(request: Request, choices: list[tuple[str, str]], level: str) -> str:
    """Links to the same page with the trend's lines of one level (the other query kept)."""
    links = []
    for value, label in choices:
        if value == level:
            links.append(f'<strong aria-current="true">{esc(label)}</strong>')
            continue
        query = {k: v for k, v in request.query_params.items() if k != "level"} | (
            {"level": value} if value else {}
        )
        href = f"{request.url.path}?{urlencode(query)}" if query else request.url.path
        links.append(f'<a href="{esc(href)}" data-level="{esc(value or "all")}">{esc(label)}</a>')
    return '<p class="levels">按层级查看：' + " ｜ ".join(links) + "</p>"


def point_label(instant: str) -> str:
    """A point as people read it: the date whose end it is ("1月31日"); the year so far, its own date."""
    moment = datetime.fromisoformat(instant)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        moment -= timedelta(seconds=1)
    return f"{moment.month}月{moment.day}日"


def trend_chart(
    reply: Any, *, tree: Mapping[str, tuple[str, str]] | None = None, request: Request | None = None
) -> str:
    """One line per unit (a department's page holds its own, a 乡镇's its 村's too); the points' labels below.

    With the units' tree (unit → category, parent), the data table goes by level, each 村 under its 乡镇,
    and with the request, `?level=` picks the lines of one level.
    """
    reply = as_text(reply, LOCAL)
    ends = "每周末" if reply.period == "week" else "每月末"
    if not reply.points:
        return f"<p>本年度还没有可统计的时点（{ends}）。</p>"
    tree = tree or {}
    choices = level_choices(reply, tree) if request is not None else []
    level = request.query_params.get("level", "") if request is not None else ""
    level = level if any(value == level for value, _ in choices) else ALL_LEVELS
    sections = _of_level(reply, tree, level)
    shown = [s for _, members in sections for _, s in members]
    names = [point_label(p) for p in reply.points]
    lines = [{"unit": s.unit, "name": s.name or s.unit, "values": list(s.overdue)} for s in shown]
    label = f"{'各单位' if len(shown) != 1 else '本单位'}逾期事项数（{ends}）"
    if level:
        label += f"：{dict(choices)[level]}"
    numeric = tuple(range(1, len(names) + 1))
    rows = []
    for title, members in sections:
        if len(sections) > 1:
            heading = (
                f'<tr class="level"><th colspan="{len(names) + 1}" scope="rowgroup">{esc(title)}</th></tr>'
            )
            rows.append(heading)
        for depth, s in members:
            name = ("　└ " if depth else "") + (s.name or s.unit)
            rows.append(row([name, *s.overdue], attrs=unit_attrs(s.unit), numeric=numeric))
    switch = level_switch(request, choices, level) if request is not None and choices else ""
    return (
        switch
        + chart("trend", {"names": names, "lines": lines}, label=label)
        + '<details class="trend"><summary>逾期趋势数据表</summary>'
        + table(["单位", *names], rows, numeric=numeric, caption=label)
        + "</details>"
    )


def trend_period(request: Request) -> str:
    """The trend's period a page was asked for: `?trend=week` for week-ends, else month-ends."""
    return "week" if request.query_params.get("trend") == "week" else "month"


def trend_switch(request: Request, period: str) -> str:
    """A link to the same page with the trend by the other period (the year kept)."""
    other = "month" if period == "week" else "week"
    query = {k: v for k, v in request.query_params.items() if k != "trend"} | {"trend": other}
    label = "按月末查看" if other == "month" else "按周末查看"
    return f'<p><a href="{esc(request.url.path)}?{esc(urlencode(query))}">{label}</a></p>'
