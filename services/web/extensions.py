"""延期申请 in the console: the lead unit asks on its task's page; the office approves or refuses after a
confirmation step; both see each request's timeline. Also the office's queue of reports awaiting 核查."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import EXTENSION_STATES, ROLES
from services.common.wire_text import as_text
from services.web import item_attachments
from services.web.gateway import Gateway, Pending
from services.web.layout import LOCAL, Raw, csrf_field, esc, frame, notice, row, table, unit_attrs
from services.web.replies import Refused, form_of, page, redirect
from services.web.sessions import Session

PAGE = 1000
OPEN = frozenset({"assigned", "accepted"})
EVENTS = {"filed": "申请延期", "decided": "审批"}
DECISIONS = {"approved": "批准", "refused": "不予批准"}
EXAMPLE = "如 2026-12-20、2026-12-20 18:00 或 2026年12月20日18时"


def when(text: str) -> str:
    """2026-12-20 18:00 for an RFC 3339 instant, as people write one."""
    return text[:16].replace("T", " ")


def task_link(task_id: str) -> Raw:
    return Raw(f'<a href="/tasks/{esc(quote(task_id, safe=""))}">{esc(task_id)}</a>')


def extension_path(ext_id: str) -> str:
    return "/office/extensions/" + quote(ext_id, safe="")


def _flash(request: Request) -> str:
    return notice(request.query_params.get("ok", "")) + notice(
        request.query_params.get("error", ""), error=True
    )


def _request_field() -> str:
    """A request id made with the form: a form sent twice (a double click, a resend) acts once."""
    return f'<input type="hidden" name="request_id" value="{secrets.token_hex(16)}">'


def timeline(steps: Iterable[Any]) -> Raw:
    """Each step's time, who (role and unit), what and why, as an ordered list."""
    items = []
    for s in steps:
        who = f"{ROLES.get(s.actor_role, s.actor_role)} {s.actor_unit}".strip()
        outcome = f"：{EXTENSION_STATES.get(s.outcome, s.outcome)}" if s.outcome else ""
        due = f"，至 {when(s.due_at)}" if s.due_at else ""
        reason = f"（{s.reason}）" if s.reason else ""
        items.append(
            f'<li data-event="{esc(s.event)}"><time>{esc(when(s.at))}</time> {esc(who)} '
            f"{esc(EVENTS.get(s.event, s.event))}{esc(outcome)}{esc(due)}{esc(reason)}</li>"
        )
    return Raw(f'<ol class="timeline">{"".join(items)}</ol>')


def start_listing(gw: Gateway, session: Session, **filters: Any) -> Pending:
    """The requests (of one task, when named), asked now and read later."""
    request = tasks_pb2.ListExtensionsRequest(page_size=PAGE, **filters)
    return gw.start(gw.tasks.ListExtensions, request, session.token)


def listed(pending: Pending) -> list[Any]:
    """The requests a listing found, read as text (states as codes, instants in the county's time)."""
    return list(as_text(pending.result(), LOCAL).extensions)


def requests_table(
    found: list[Any], session: Session, *, decide: bool, files: Mapping[str, object] | None = None
) -> str:
    """The requests; with files (request id → its 附件 cell), a column of their attachments."""
    rows = []
    for e in found:
        state: object = e.state_label or EXTENSION_STATES.get(e.state, e.state)
        if decide and e.state == "pending" and session.role == "office":
            state = Raw(
                f"{esc(state)} "
                + "".join(
                    f'<a class="button" data-decide="{code}" '
                    f'href="{esc(extension_path(e.id))}?decision={code}">{esc(label)}</a> '
                    for code, label in DECISIONS.items()
                )
            )
        rows.append(
            row(
                [
                    e.id,
                    task_link(e.task_id),
                    e.task_title,
                    e.unit,
                    when(e.due_before),
                    when(e.asked_due),
                    e.reason,
                    state,
                    when(e.granted_due),
                    e.decision_reason,
                    timeline(e.timeline),
                    *([files.get(e.id, "")] if files is not None else []),
                ],
                attrs=unit_attrs(e.unit) + f' data-extension="{esc(e.id)}" data-state="{esc(e.state)}"',
            )
        )
    headers = [
        "申请",
        "任务",
        "事项",
        "单位",
        "原时限",
        "申请延至",
        "理由",
        "状态",
        "批准延至",
        "审批意见",
        "经过",
        *(["附件"] if files is not None else []),
    ]
    return table(headers, rows, caption="延期申请")


def task_section(session: Session, task: Any, pending: Pending) -> str:
    """On a task's page: its requests with their timelines, and the lead unit's form while it may ask."""
    found = listed(pending)
    parts = []
    waiting = any(e.state == "pending" for e in found)
    if session.role == "department" and session.unit == task.lead_unit and task.state in OPEN and not waiting:
        path = "/tasks/" + quote(task.id, safe="") + "/extension"
        parts.append(
            f'<form method="post" action="{esc(path)}" class="stack" id="extension-form">'
            f"{csrf_field(session)}{_request_field()}"
            "<p>确因特殊情况不能按时完成的，须在办结时限之前说明原因和进展，申请延期，由考核办审批。</p>"
            f'<label for="extension-due">申请延至（{esc(EXAMPLE)}）</label>'
            '<input id="extension-due" name="due_at" required maxlength="40">'
            '<label for="extension-reason">不能按时完成的原因和目前进展</label>'
            '<textarea id="extension-reason" name="reason" required maxlength="2000" rows="3"></textarea>'
            '<button type="submit" data-step="extension">申请延期</button></form>'
        )
    if found:
        parts.append(requests_table(found, session, decide=session.role == "office"))
    if not parts:
        return ""
    return (
        '<section aria-label="延期申请" class="extensions"><h2>延期申请</h2>' + "".join(parts) + "</section>"
    )


def file_request(gw: Gateway, session: Session, request: Request) -> Response:
    """The lead unit's request, from the form on its task's page."""
    task = request.path_params["task"]
    back = "/tasks/" + task  # redirect() quotes it
    form = form_of(request)
    due, reason = form.get("due_at", "").strip(), form.get("reason", "").strip()
    if not due or not reason:
        return redirect(back, error="申请延期须填写申请延至的时间和原因")
    filed = gw.call(
        gw.tasks.FileExtension,
        tasks_pb2.FileExtensionRequest(
            request_id=form.get("request_id", "") or secrets.token_hex(16),
            task_id=task,
            due_at=due,
            reason=reason,
        ),
        session.token,
    )
    made = as_text(filed, LOCAL).extension
    return redirect(back, ok=f"已提出延期申请 {made.id}（申请延至 {when(made.asked_due)}），待考核办审批")


def unit_page(gw: Gateway, session: Session, request: Request) -> Response:
    """The department's requests, each with its timeline."""
    found = listed(start_listing(gw, session))
    files = item_attachments.start_cells(gw, session, "extension", [e.id for e in found])
    body = (
        _flash(request) + "<p>在任务页面上点“申请延期”提出；考核办审批后，批准的新时限即为该任务的办结时限。"
        "说明原因的材料可作为附件上传。</p>"
        + requests_table(
            found,
            session,
            decide=False,
            files=item_attachments.cells(session, "extension", files, upload=True),
        )
    )
    return page(frame("延期申请", body, session))


def office_page(gw: Gateway, session: Session, request: Request) -> Response:
    """Every request, the pending first, each with a link to decide it."""
    found = sorted(listed(start_listing(gw, session)), key=lambda e: e.state != "pending")
    pending = sum(1 for e in found if e.state == "pending")
    files = item_attachments.start_cells(gw, session, "extension", [e.id for e in found])
    body = (
        _flash(request)
        + f"<p>待审批 {pending} 项。批准即记入该任务的延期（新的办结时限），须在现行时限之前办理；"
        "不予批准须写明理由。</p>"
        + requests_table(
            found, session, decide=True, files=item_attachments.cells(session, "extension", files)
        )
    )
    return page(frame("延期申请", body, session))


def _one(gw: Gateway, session: Session, ext_id: str) -> Any:
    for e in listed(start_listing(gw, session)):
        if e.id == ext_id:
            return e
    raise Refused(404, f"没有延期申请 {ext_id}")


def confirm(gw: Gateway, session: Session, request: Request) -> Response:
    """The confirmation step: the request as it stands, the decision chosen, its due and reason to fill in."""
    ext = _one(gw, session, request.path_params["extension"])
    decision = request.query_params.get("decision", "")
    if decision not in DECISIONS:
        raise Refused(400, "请选择批准或不予批准")
    if ext.state != "pending":
        return redirect("/office/extensions", error=f"延期申请 {ext.id} 已审批：{ext.state_label}")
    facts = [
        ("任务", f"{ext.task_id} {ext.task_title}"),
        ("单位", ext.unit),
        ("原办结时限", when(ext.due_before)),
        ("申请延至", when(ext.asked_due)),
        ("理由", ext.reason),
    ]
    listing = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    if decision == "approved":
        asked = ext.asked_due[:19].replace("T", " ")
        fields = (
            f'<label for="decide-due">批准延至（默认按申请；{esc(EXAMPLE)}）</label>'
            f'<input id="decide-due" name="due_at" value="{esc(asked)}" maxlength="40">'
            '<label for="decide-reason">审批意见（可不填）</label>'
            '<textarea id="decide-reason" name="reason" maxlength="2000" rows="2"></textarea>'
        )
    else:
        fields = (
            '<label for="decide-reason">不予批准的理由</label>'
            '<textarea id="decide-reason" name="reason" required maxlength="2000" rows="3"></textarea>'
        )
    body = (
        f'<dl class="facts">{listing}</dl>'
        f'<form method="post" action="{esc(extension_path(ext.id))}/decide" class="stack">'
        f'{csrf_field(session)}{_request_field()}<input type="hidden" name="decision" value="{decision}">'
        f'{fields}<button type="submit" id="confirm-decision">确认{esc(DECISIONS[decision])}</button></form>'
        '<p><a href="/office/extensions">返回延期申请</a></p>'
    )
    return page(frame(f"{DECISIONS[decision]}延期申请 {ext.id}", body, session))


def decide(gw: Gateway, session: Session, request: Request) -> Response:
    ext_id = request.path_params["extension"]
    form = form_of(request)
    decision = form.get("decision", "")
    reason = form.get("reason", "").strip()
    if decision not in DECISIONS:
        return redirect("/office/extensions", error="请选择批准或不予批准")
    if decision == "refused" and not reason:
        return redirect("/office/extensions", error="不予批准须写明理由")
    decided = gw.call(
        gw.tasks.DecideExtension,
        tasks_pb2.DecideExtensionRequest(
            request_id=form.get("request_id", "") or secrets.token_hex(16),
            id=ext_id,
            decision=decision,
            due_at=form.get("due_at", "").strip() if decision == "approved" else "",
            reason=reason,
        ),
        session.token,
    )
    made = as_text(decided, LOCAL).extension
    if made.state == "approved":
        said = f"已批准延期申请 {made.id}：任务 {made.task_id} 延至 {when(made.granted_due)}"
    else:
        said = f"延期申请 {made.id}：不予批准"
    return redirect("/office/extensions", ok=said)


# ---- 核查: reports the unit made that nobody has verified yet, oldest first


def start_awaiting(gw: Gateway, session: Session) -> Pending:
    request = tasks_pb2.ListTasksRequest(state=common_pb2.TASK_STATE_REPORTED, page_size=5000)
    return gw.start(gw.tasks.ListTasks, request, session.token)


def awaiting_section(pending: Pending) -> str:
    """The reports awaiting 核查 (reported, not yet verified), the oldest first, each linked to its task."""
    reply = as_text(pending.result(), LOCAL)
    waiting = sorted(reply.tasks, key=lambda t: (t.reported_at, t.id))
    rows = [
        row(
            [when(t.reported_at), task_link(t.id), t.title, t.lead_unit, when(t.due_at)],
            attrs=unit_attrs(t.lead_unit) + f' data-awaiting="{esc(t.id)}"',
        )
        for t in waiting
    ]
    more = "（仅列前 5000 项）" if reply.next_page_token else ""
    return (
        f'<h2 id="awaiting">待核查的反馈（{len(waiting)} 项{more}）</h2>'
        "<p>单位已反馈、督查室尚未核查的事项，最早反馈的在前；未经核查的反馈不能定档。</p>"
        + table(["反馈时间", "任务", "事项", "牵头单位", "办结时限"], rows, caption="待核查的反馈")
    )


OFFICE = frozenset({"office"})
DEPARTMENT = frozenset({"department"})
READERS = frozenset({"office", "supervisor", "viewer"})
# (method, path, view, roles, where a refusal goes back to): the console's routes of this desk.
DESK: list[tuple[str, str, Any, frozenset[str], str]] = [
    ("GET", "/office/extensions", office_page, READERS, ""),
    ("GET", "/office/extensions/{extension}", confirm, OFFICE, "/office/extensions"),
    ("POST", "/office/extensions/{extension}/decide", decide, OFFICE, "/office/extensions"),
    ("GET", "/unit/extensions", unit_page, DEPARTMENT, ""),
    ("POST", "/tasks/{task}/extension", file_request, DEPARTMENT, "/tasks/{task}"),
]
