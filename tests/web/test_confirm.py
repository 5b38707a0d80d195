"""The page asked before an irreversible step: it says what will happen, carries the form's fields along
unchanged (every value of a repeated one) and posts back to the very address the form was posted to."""

from __future__ import annotations

from html.parser import HTMLParser

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from services.web.confirm import confirm_first
from services.web.sessions import Session

SESSION = Session("s1", "token", "office", "", "office1", "办公室", "csrf-token", 0.0, 0.0)


class Forms(HTMLParser):
    """The page's forms: each one's action and its inputs as (name, value), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((found.get("action", ""), []))
        elif tag == "input" and self.forms:
            self.forms[-1][1].append((found.get("name", ""), found.get("value", "")))


def posted(raw_path: bytes, fields: list[tuple[str, str]], query: bytes = b"") -> Request:
    """A POST as the app hands it to a view: its path as the browser sent it, its form already read."""
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "path": raw_path.decode(),
            "raw_path": raw_path,
            "query_string": query,
            "headers": [],
        }
    )
    items: list[tuple[str, str | UploadFile]] = list(fields)
    request.state.form = FormData(items)
    request.state.session = SESSION
    return request


def ask(request: Request) -> Forms:
    page = confirm_first(
        request, SESSION, title="确认销号", consequence="事项办结关闭", button="确认销号", back="/tasks"
    )
    assert page is not None and page.status_code == 200
    forms = Forms()
    forms.feed(bytes(page.body).decode())
    return forms


def test_the_confirmation_carries_every_field_unchanged_to_the_same_address() -> None:
    # An id with a slash, a question mark and Chinese in it, encoded as one path segment.
    path = b"/tasks/%E7%9D%A3%E5%8A%9E%2F1%3F%E5%8F%B7/close"
    fields = [
        ("csrf", "csrf-token"),
        ("request_id", "r-1"),
        ("etag", 'W/"7"'),
        ("note", "已核实 <b>完成</b> & 归档\n第二行"),
        ("co_units", "fgj"),
        ("co_units", "czj"),
    ]
    forms = ask(posted(path, fields, query=b"from=list"))
    action, inputs = next(f for f in forms.forms if f[0] != "/logout")
    assert action == "/tasks/%E7%9D%A3%E5%8A%9E%2F1%3F%E5%8F%B7/close?from=list"
    carried = [(n, v) for n, v in inputs if n not in ("csrf", "confirmed")]
    assert carried == fields[1:]
    # A fresh CSRF field of the session's, and the mark that the person confirmed.
    assert ("csrf", "csrf-token") in inputs and ("confirmed", "yes") in inputs


def test_once_confirmed_the_step_goes_on() -> None:
    request = posted(b"/tasks/T1/close", [("csrf", "csrf-token"), ("confirmed", "yes")])
    assert confirm_first(request, SESSION, title="确认", consequence="", button="确认", back="/") is None
