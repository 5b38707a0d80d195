"""The task list's filters and pages: what a query asks for, the form asking it, the links to more pages."""

from __future__ import annotations

from urllib.parse import urlencode

from markupsafe import Markup

from services.common.vocabulary import COLOURS, TASK_STATES
from services.web.sessions import Session
from services.web.templating import fragment


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


def page_links(query: dict[str, str], chosen: dict[str, str], overdue: bool, next_page_token: str) -> Markup:
    """Links to the first page (when past it) and the next (when there is one), keeping the filters."""
    links = []
    if query.get("page"):
        links.append(("第一页", "/tasks?" + _query(chosen, overdue, ""), "first"))
    if next_page_token:
        links.append(("下一页", "/tasks?" + _query(chosen, overdue, next_page_token), "next"))
    return fragment("tasks/pages.html", links=links)


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
) -> Markup:
    """The filters form (GET /tasks): title, unit (unless a department without 村), colour, state, overdue."""
    return fragment(
        "tasks/filters.html",
        chosen=chosen,
        overdue=overdue,
        units=None if session.role == "department" and not pick else names,
        colours=COLOURS,
        states=TASK_STATES,
    )
