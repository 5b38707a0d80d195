"""The console's pages: Jinja2 templates (services/web/templates/, autoescaped) and the filters they use.

A view renders with `render(request, "office/runs.html", title=..., ...)`: the page frame (base.html) reads
the session the app found (request.state.session) for the menu, the person and the CSRF token, and the
`?ok=` / `?error=` lines a redirect carried.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from services.common.vocabulary import COLOURS, GRADES, ROLES, RUN_STATES, UNIT_CATEGORIES, label_of
from services.web import layout
from services.web.replies import part

TEMPLATES = Path(__file__).resolve().parent / "templates"

ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    instant=layout.instant,
    num=layout.num,
    rate=layout.rate,
    hours_left=layout.hours_left,
    part=part,
    total_attr=layout.total_attr,
    colour_label=lambda code: label_of(COLOURS, code) if code else "",
    run_state_label=lambda code: label_of(RUN_STATES, code),
    grade_label=lambda code: label_of(GRADES, code) if code else "",
    category_label=lambda code: label_of(UNIT_CATEGORIES, code),
    role_label=lambda code: label_of(ROLES, code),
    chart_data=lambda data: json.dumps(data, ensure_ascii=False),
)
ENV.globals.update(NAV=layout.NAV)


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """The template as a whole page, with the session, the CSRF token and the redirect's messages."""
    session = getattr(request.state, "session", None)
    shown = ENV.get_template(template).render(
        session=session,
        csrf=session.csrf if session is not None else "",
        flash_ok=request.query_params.get("ok", ""),
        flash_error=request.query_params.get("error", ""),
        **context,
    )
    return HTMLResponse(shown, status)


def fragment(template: str, **context: Any) -> Markup:
    """A piece of a page rendered on its own (a section several pages share), safe to put in another."""
    return Markup(ENV.get_template(template).render(**context))
