"""The task list's filters and pages: what a query asks for, the form asking it, the links to more pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from services.common.vocabulary import COLOURS, TASK_STATES
from services.web.layout import esc
from services.web.sessions import Session


def chosen_filters(query: dict[str, str], session: Session, below: list[str]) -> tuple[dict[str, str], bool]:
    """The filters a query asks for, as far as they are known: a department sees its own unit or its 村."""
    wanted = query.get("unit", "")
    chosen = {
        "unit": (wanted if wanted in below else session.unit) if session.role == "department" else wanted,
        "color": query.get("color", "") if query.get("color", "") in COLOURS else "",
        "state": query.get("state", "") if query.get("state", "") in TASK_STATES else "",
    }
    overdue = query.get("overdue") == "1"
    chosen["title"] = query.get("title", "").strip()[:200]
    return chosen, overdue


def page_links(query: dict[str, str], chosen: dict[str, str], overdue: bool, next_page_token: str) -> str:
    """Links to the first page (when past it) and the next (when there is one), keeping the filters."""
    pages = [
        f'<a href="/tasks?{esc(_query(chosen, overdue, ""))}" rel="first">第一页</a>'
        if query.get("page")
        else "",
        f'<a href="/tasks?{esc(_query(chosen, overdue, next_page_token))}" rel="next">下一页</a>'
        if next_page_token
        else "",
    ]
    return f'<p class="pages">{" ".join(p for p in pages if p)}</p>' if any(pages) else ""


def _query(chosen: dict[str, str], overdue: bool, token: str) -> str:
    """The list's query string for these filters and page token (empty ones left out)."""
    params = {k: v for k, v in chosen.items() if v}
    if overdue:
        params["overdue"] = "1"
    if token:
        params["page"] = token
    return urlencode(params)


def filters_form(
    session: Session, chosen: dict[str, str], overdue: bool, names: dict[str, str], *, pick: bool = False
) -> str:
    """The filters form (GET /tasks): title, unit (unless a department without 村), colour, state, overdue."""

    def options(terms: dict[str, str] | Any, current: str, everything: str) -> str:
        items = [f'<option value="">{esc(everything)}</option>']
        for code, label in terms.items():
            selected = " selected" if code == current else ""
            items.append(f'<option value="{esc(code)}"{selected}>{esc(label)}</option>')
        return "".join(items)

    unit = (
        ""
        if session.role == "department" and not pick
        else f'<label>单位 <select name="unit">{options(names, chosen["unit"], "全部单位")}</select></label>'
    )
    checked = " checked" if overdue else ""
    return (
        f'<form method="get" action="/tasks" class="filters">'
        f'<label>标题 <input type="search" name="title" value="{esc(chosen["title"])}" maxlength="200"'
        f' placeholder="按标题搜索"></label>{unit}'
        f'<label>颜色 <select name="color">{options(COLOURS, chosen["color"], "全部")}</select></label>'
        f'<label>状态 <select name="state">{options(TASK_STATES, chosen["state"], "全部")}</select></label>'
        f'<label><input type="checkbox" name="overdue" value="1"{checked}> 只看逾期</label>'
        '<button type="submit">筛选</button></form>'
    )
