"""延期申请 in the console: the lead unit asks on its task's page; the office approves or refuses after a
confirmation step; both see each request's timeline. Also the office's queue of reports awaiting 核查."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import EXTENSION_STATES, ROLES
from services.common.wire_text import as_text
from services.common.wiretime import rfc3339_of
from services.web import item_attachments
from services.web.gateway import Gateway, Pending
from services.web.layout import LOCAL, instant
from services.web.replies import Refused, form_of, part, redirect
from services.web.sessions import Session
from services.web.templating import fragment, render

PAGE = 1000
OPEN = frozenset({"assigned", "accepted"})
EVENTS = {"filed": "申请延期", "decided": "审批"}
DECISIONS = {"approved": "批准", "refused": "不予批准"}
EXAMPLE = "如 2026-12-20、2026-12-20 18:00 或 2026年12月20日18时"


def when(text: str) -> str:
    """2026年12月20日 18:00 for an RFC 3339 instant, as people write one."""
    return instant(text)


def extension_path(ext_id: str) -> str:
    return "/office/extensions/" + part(ext_id)


def timeline(steps: Iterable[Any], names: Mapping[str, str]) -> list[dict[str, str]]:
    """Each step's time, who (role and unit, by name), what and why, as records/macros.html lists them."""
    shown = []
    for s in steps:
        who = f"{ROLES.get(s.actor_role, s.actor_role)} {names.get(s.actor_unit, s.actor_unit)}".strip()
        outcome = f"：{EXTENSION_STATES.get(s.outcome, s.outcome)}" if s.outcome else ""
        due = f"，至 {when(s.due_at)}" if s.due_at else ""
        reason = f"（{s.reason}）" if s.reason else ""
        shown.append(
            {
                "event": s.event,
                "at": when(s.at),
                "text": f"{who} {EVENTS.get(s.event, s.event)}{outcome}{due}{reason}",
            }
        )
    return shown


def files_cell(cell: object) -> Markup:
    """A 附件 cell item_attachments drew (its Raw, or Markup once it is a template), placed as it is."""
    if isinstance(cell, Markup):
        return cell
    drawn = getattr(cell, "html", None)
    return Markup(drawn) if isinstance(drawn, str) else escape(cell)


def unit_names(gw: Gateway, session: Session) -> dict[str, str]:
    """unit code → its name, to show units as people know them."""
    reply = gw.call(gw.tasks.ListUnits, tasks_pb2.ListUnitsRequest(page_size=5000), session.token)
    return {u.id: u.name for u in reply.units}


def start_listing(gw: Gateway, session: Session, **filters: Any) -> Pending:
    """The requests (of one task, when named), asked now and read later."""
    request = tasks_pb2.ListExtensionsRequest(page_size=PAGE, **filters)
    return gw.start(gw.tasks.ListExtensions, request, session.token)


def listed(pending: Pending) -> list[Any]:
    """The requests a listing found, read as text (states as codes, instants in the county's time)."""
    return list(as_text(pending.result(), LOCAL).extensions)


def requests_table(
    found: list[Any],
    session: Session,
    *,
    decide: bool,
    files: Mapping[str, object] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    """The requests; with files (request id → its 附件 cell), a column of their attachments; with names
    (unit code → name), each unit by its name."""
    shown = [
        {
            "id": e.id,
            "task_id": e.task_id,
            "task_title": e.task_title,
            "unit": e.unit,
            "unit_name": (names or {}).get(e.unit, e.unit),
            "due_before": when(e.due_before),
            "asked_due": when(e.asked_due),
            "reason": e.reason,
            "state": e.state,
            "state_label": e.state_label or EXTENSION_STATES.get(e.state, e.state),
            "decide": decide and e.state == "pending" and session.role == "office",
            "granted_due": when(e.granted_due),
            "decision_reason": e.decision_reason,
            "timeline": timeline(e.timeline, names or {}),
            "files": files_cell(files.get(e.id, "")) if files is not None else "",
        }
        for e in found
    ]
    return fragment(
        "records/requests_table.html", found=shown, with_files=files is not None, decisions=DECISIONS
    )


def task_section(
    session: Session, task: Any, pending: Pending, names: Mapping[str, str] | None = None
) -> Markup:
    """On a task's page: its requests with their timelines (units by name), and the lead unit's form while it
    may ask."""
    found = listed(pending)
    waiting = any(e.state == "pending" for e in found)
    may_ask = (
        session.role == "department" and session.unit == task.lead_unit and task.state in OPEN and not waiting
    )
    if not may_ask and not found:
        return Markup()
    form = {"action": f"/tasks/{part(task.id)}/extension", "request_id": secrets.token_hex(16)}
    return fragment(
        "records/task_extensions.html",
        form=form if may_ask else None,
        requests=requests_table(found, session, decide=session.role == "office", names=names)
        if found
        else "",
        example=EXAMPLE,
        csrf=session.csrf,
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
    shown = item_attachments.cells(session, "extension", files, upload=True)
    table = requests_table(found, session, decide=False, files=shown, names=unit_names(gw, session))
    return render(request, "records/unit_extensions.html", title="延期申请", requests=table)


def office_page(gw: Gateway, session: Session, request: Request) -> Response:
    """Every request, the pending first, each with a link to decide it."""
    found = sorted(listed(start_listing(gw, session)), key=lambda e: e.state != "pending")
    files = item_attachments.start_cells(gw, session, "extension", [e.id for e in found])
    shown = item_attachments.cells(session, "extension", files)
    return render(
        request,
        "records/office_extensions.html",
        title="延期申请",
        pending=sum(1 for e in found if e.state == "pending"),
        requests=requests_table(found, session, decide=True, files=shown, names=unit_names(gw, session)),
    )


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
    return render(
        request,
        "records/extension_confirm.html",
        title=f"{DECISIONS[decision]}延期申请 {ext.id}",
        facts=facts,
        action=f"{extension_path(ext.id)}/decide",
        request_id=secrets.token_hex(16),
        decision=decision,
        decision_label=DECISIONS[decision],
        asked=ext.asked_due[:19].replace("T", " "),
        example=EXAMPLE,
    )


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


# The reports awaiting 核查 listed on the overview (the oldest); the task list has them all.
AWAITING_SHOWN = 50


def start_awaiting(gw: Gateway, session: Session) -> Pending:
    """The oldest AWAITING_SHOWN reports awaiting 核查 and how many there are, asked now."""
    request = tasks_pb2.ListTasksRequest(
        state=common_pb2.TASK_STATE_REPORTED,
        order=tasks_pb2.TASK_ORDER_REPORTED_AT,
        page_size=AWAITING_SHOWN,
    )
    return gw.start(gw.tasks.ListTasks, request, session.token)


def awaiting_section(pending: Pending, names: Mapping[str, str] | None = None) -> Markup:
    """The reports awaiting 核查 (reported, not yet verified), the oldest AWAITING_SHOWN first, each linked to
    its task; the rest are on the task list (filtered to 已反馈)."""
    reply = pending.result()
    tasks = [
        {
            "id": t.id,
            "title": t.title,
            "lead_unit": t.lead_unit,
            "lead_name": (names or {}).get(t.lead_unit, t.lead_unit),
            "reported_at": instant(rfc3339_of(t, "reported_at", LOCAL)),
            "due_at": instant(rfc3339_of(t, "due_at", LOCAL)),
        }
        for t in reply.tasks
    ]
    return fragment("records/awaiting.html", tasks=tasks, count=max(reply.total_size, len(tasks)))


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
