"""The console's HTML: the page frame, tables, numbers and labels (from the shared vocabulary)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kaohe.common.v1 import common_pb2
from starlette.requests import Request

from services.common.protoenum import enum_code
from services.common.vocabulary import COLOURS, GRADES, ROLES, RUN_STATES, UNIT_CATEGORIES, label_of
from services.common.wiretime import rfc3339_of
from services.web.sessions import Session

# The county's clock: every instant on a page is shown in it.
LOCAL = ZoneInfo("Asia/Shanghai")
NAV = {
    "office": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/records", "考核记录"),
        ("/office/bulletin", "督查通报"),
        ("/office/runs", "考核运行"),
        ("/office/appeals", "申诉"),
        ("/office/tolerance", "容错申请"),
        ("/office/extensions", "延期申请"),
        ("/office/ranking", "排名"),
        ("/office/import", "台账导入"),
        ("/office/accounts", "账号"),
        ("/persons", "责任人"),
    ],
    "department": [
        ("/unit", "本单位"),
        ("/tasks", "督办事项"),
        ("/unit/appeals", "申诉与容错"),
        ("/unit/extensions", "延期申请"),
        ("/persons", "责任人"),
    ],
    "supervisor": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/runs", "考核运行"),
        ("/office/ranking", "排名"),
    ],
    "viewer": [
        ("/office", "全县态势"),
        ("/tasks", "督办事项"),
        ("/office/runs", "考核运行"),
        ("/office/ranking", "排名"),
    ],
}


def esc(value: object) -> str:
    """Text safe inside HTML, attributes included."""
    return html.escape("" if value is None else str(value), quote=True)


def instant(value: Any) -> str:
    """An instant in the county's time as people write it: 2026年12月6日 19:05 (a date: 2026年12月6日)."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if len(text) <= 10:
        return f"{parsed.year}年{parsed.month}月{parsed.day}日"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(LOCAL)
    return f"{parsed.year}年{parsed.month}月{parsed.day}日 {parsed:%H:%M}"


def num(value: Any) -> str:
    """A score as people write it: at most two decimals, no trailing zeros."""
    if value is None or value == "":
        return ""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def total_attr(value: Any) -> str:
    """A total exactly as the result document gives it (a JSON number), for data-total."""
    return json.dumps(value)


def rate(value: float) -> str:
    return "—" if value < 0 else f"{value * 100:.1f}%"


def hours_left(hours: float) -> str:
    """剩余 2 天 3 小时 / 已逾期 5 小时."""
    whole = int(abs(hours))
    days, rest = divmod(whole, 24)
    text = (f"{days} 天 " if days else "") + f"{rest} 小时"
    return f"已逾期 {text}" if hours < 0 else f"剩余 {text}"


def colour(code: str) -> str:
    if not code:
        return ""
    return f'<span class="badge {esc(code)}">{esc(label_of(COLOURS, code))}</span>'


def state_label(code: str) -> str:
    return label_of(RUN_STATES, code)


def run_state(run: Any) -> str:
    """A Run message's state as its code (draft publicised final)."""
    return enum_code(common_pb2.RunState.DESCRIPTOR, run.state)


def run_time(run: Any, field: str) -> str:
    """One of a Run message's instants as RFC 3339 in the county's time; "" when unset."""
    return rfc3339_of(run, field, LOCAL)


def grade_label(code: str) -> str:
    return label_of(GRADES, code) if code else ""


def category_label(code: str) -> str:
    return label_of(UNIT_CATEGORIES, code)


def table(
    headers: Sequence[str], rows: Iterable[str], *, caption: str = "", numeric: Sequence[int] = ()
) -> str:
    """A table; rows are ready-made <tr> strings (so a row can carry data-unit / data-total)."""
    cells = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(_labelled(r, headers) for r in rows)
    body = body or f'<tr><td colspan="{len(headers)}" class="empty">（无）</td></tr>'
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="scroll"><table>{cap}<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _labelled(row_html: str, headers: Sequence[str]) -> str:
    """The row with each cell's column name as data-label: on a phone a row is a card of labelled lines."""
    parts = row_html.split("<td")
    out = [parts[0]]
    for index, rest in enumerate(parts[1:]):
        label = headers[index] if index < len(headers) and headers[index] else ""
        out.append(f'<td data-label="{esc(label)}"{rest}' if label else f"<td{rest}")
    return "".join(out)


def row(cells: Sequence[object], *, attrs: str = "", numeric: Sequence[int] = ()) -> str:
    """A <tr> of escaped cells; a cell given as Raw is inserted as it is."""
    out = []
    for i, cell in enumerate(cells):
        text = cell.html if isinstance(cell, Raw) else esc(cell)
        out.append(f"<td{' class=num' if i in numeric else ''}>{text}</td>")
    return f"<tr{attrs}>{''.join(out)}</tr>"


class Raw:
    """HTML made here, not text from outside (so it is not escaped again)."""

    def __init__(self, html: str) -> None:
        self.html = html


def unit_attrs(unit: str, total: Any = None) -> str:
    extra = f' data-total="{esc(total_attr(total))}"' if total is not None else ""
    return f' data-unit="{esc(unit)}"{extra}'


def chart(kind: str, data: dict[str, Any], *, label: str) -> str:
    """A chart drawn by /static/charts.js from its data (no inline script: the CSP forbids it)."""
    payload = esc(json.dumps({"kind": kind, **data}, ensure_ascii=False))
    return f'<div class="chart" role="img" aria-label="{esc(label)}" data-chart="{payload}"></div>'


def csrf_field(session: Session) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'


def button_form(action: str, label: str, session: Session, *, extra: str = "", css: str = "") -> str:
    """A one-button POST form carrying the CSRF token."""
    cls = f' class="{css}"' if css else ""
    return (
        f'<form method="post" action="{esc(action)}" class="inline">{csrf_field(session)}{extra}'
        f"<button type=submit{cls}>{esc(label)}</button></form>"
    )


def notice(message: str, *, error: bool = False) -> str:
    if not message:
        return ""
    kind = "error" if error else "ok"
    role = "alert" if error else "status"
    return f'<p class="notice {kind}" role="{role}">{esc(message)}</p>'


def flash(request: Request) -> str:
    """The ok and error lines a redirect carried in its query (?ok=…, ?error=…), as notices."""
    return notice(request.query_params.get("ok", "")) + notice(
        request.query_params.get("error", ""), error=True
    )


def frame(title: str, body: str, session: Session | None = None, *, charts: bool = False) -> str:
    """The whole page: head (viewport for phones), the role's navigation, logout, the body."""
    nav = ""
    if session is not None:
        links = "".join(f'<a href="{href}">{esc(text)}</a>' for href, text in NAV.get(session.role, []))
        who = f"{session.name or session.username}（{label_of(ROLES, session.role)}"
        who += f" {session.unit}）" if session.unit else "）"
        nav = (
            f'<nav aria-label="主菜单">{links}</nav><div class="who"><span>{esc(who)}</span>'
            '<a href="/account/password">修改密码</a>'
            f'<form method="post" action="/logout" class="inline">{csrf_field(session)}'
            f'<button type="submit" id="logout">退出登录</button></form></div>'
        )
    scripts = (
        '<script src="/static/vendor/echarts/echarts.min.js" defer></script>'
        '<script src="/static/charts.js" defer></script>'
        if charts
        else ""
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · 考核</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="/static/style.css">{scripts}</head><body>'
        '<a class="skip" href="#main">跳到正文</a>'
        f'<header><a class="brand" href="/">考核</a>{nav}</header>'
        f'<main id="main"><h1>{esc(title)}</h1>{body}</main></body></html>'
    )
