"""A page that asks before an action that cannot be undone (公示, 定档, 销号, 作废, 停用), no script."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.web.layout import csrf_field, esc, frame
from services.web.replies import form_of, page
from services.web.sessions import Session

CONFIRMED = "confirmed"


def confirm_first(
    request: Request, session: Session, *, title: str, consequence: str, button: str, back: str
) -> Response | None:
    """None once the person has confirmed; else a page saying what will happen, with the same form again.

    The form's own fields (a reason, an etag, a request id) go along unchanged, so the confirmed post is
    the one the person filled in; CSRF was checked on the first post and is checked again on this one.
    """
    if form_of(request).get(CONFIRMED) == "yes":
        return None
    carried = "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in form_of(request).items()
        if name not in ("csrf", CONFIRMED)
    )
    body = (
        f'<p class="notice warn" role="alert">{esc(consequence)}</p>'
        f'<form method="post" action="{esc(request.url.path)}" class="confirm">{csrf_field(session)}{carried}'
        f'<input type="hidden" name="{CONFIRMED}" value="yes">'
        f'<button type="submit" id="confirm" class="danger">{esc(button)}</button>'
        f' <a class="button" id="cancel" href="{esc(back)}">取消</a></form>'
    )
    return page(frame(title, body, session))
