"""A page that asks before an action that cannot be undone (公示, 定档, 销号, 作废, 停用), no script."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from services.web.replies import form_all, form_of
from services.web.sessions import Session
from services.web.templating import render

CONFIRMED = "confirmed"


def confirm_first(
    request: Request, session: Session, *, title: str, consequence: str, button: str, back: str
) -> Response | None:
    """None once the person has confirmed; else a page saying what will happen, with the same form again.

    The form's own fields (a reason, an etag, a request id; every value of a repeated one) go along
    unchanged, to the very address the form was posted to, so the confirmed post is the one the person
    filled in; CSRF was checked on the first post and is checked again on this one.
    """
    if form_of(request).get(CONFIRMED) == "yes":
        return None
    carried = [
        (name, value)
        for name in form_of(request)
        if name not in ("csrf", CONFIRMED)
        for value in form_all(request, name)
    ]
    return render(
        request,
        "tasks/confirm.html",
        title=title,
        consequence=consequence,
        action=same_address(request),
        carried=carried,
        confirmed=CONFIRMED,
        button=button,
        back=back,
    )


def same_address(request: Request) -> str:
    """The path (and query) the request came to, as the browser sent it: an id encoded in a segment
    (a "/" or "?" in it) stays encoded, so the confirmed post reaches the same view with the same id."""
    raw = request.scope.get("raw_path")
    path = quote(raw if isinstance(raw, bytes) and raw else request.url.path, safe="/%")
    query = request.url.query
    return f"{path}?{query}" if query else path
