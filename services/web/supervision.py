"""The supervision ledger in the browser (督办事项): 立项 → 交办 → 承办 → 反馈 → 核查 → 销号, for both desks.

Every step is one TasksService call through the gateway, which decides who may take it; the page only
offers the buttons a role and a state make sense for. Each form carries a request id made when the page
was drawn, so a double click or a resubmitted form does the step once (AIP-155), and the task's etag, so
a step taken on a page that someone else's step made stale is refused rather than applied blind.
"""

from __future__ import annotations

import secrets
import tomllib
from typing import Any
from urllib.parse import urlencode

from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import (
    OUTCOMES,
    TASK_EVENT_KINDS,
    TASK_NOTE_KINDS,
    TASK_STATES,
    label_of,
)
from services.common.wire_text import as_text
from services.web import attachments, people
from services.web.confirm import confirm_first
from services.web.edge import typed_code, typed_instant
from services.web.extensions import start_listing, task_section
from services.web.gateway import Gateway
from services.web.layout import LOCAL, instant
from services.web.replies import Refused, form_all, form_of, part, redirect
from services.web.sessions import Session
from services.web.task_filters import chosen_filters, filters_form, page_links
from services.web.templating import fragment, render

OFFICE_SIDE = frozenset({"office", "supervisor"})
# Who may open the 立项 form: the office's side, and a 乡镇 for its own 村 (the gateway decides).
DISPATCHERS = OFFICE_SIDE | {"department"}
PAGE_SIZE = 50
PRIORITIES = {"normal": "一般", "important": "重要", "urgent": "紧急"}
# The steps each side takes, the states each step is offered in, and whether it needs a note.
STEPS: dict[str, tuple[str, frozenset[str], frozenset[str], bool]] = {
    "assign": ("交办", OFFICE_SIDE, frozenset({"created"}), False),
    "accept": ("承办", frozenset({"department"}), frozenset({"assigned"}), False),
    "progress": ("报送进展", frozenset({"department"}), frozenset({"assigned", "accepted"}), True),
    "report": ("办结反馈", frozenset({"department"}), frozenset({"assigned", "accepted"}), True),
    "verify": ("核查通过", OFFICE_SIDE, frozenset({"reported"}), False),
    "reject": ("退回重办", OFFICE_SIDE, frozenset({"reported"}), True),
    "close": ("销号", OFFICE_SIDE, frozenset({"reported", "verified"}), False),
    "cancel": ("撤销", OFFICE_SIDE, frozenset({"created", "assigned", "accepted", "reported"}), True),
}
# Steps that end a task for good: asked before they are taken (what happens, in Chinese).
IRREVERSIBLE = {
    "close": "事项办结关闭，按办结时间计入按时率，此后不能再办理或退回。",
    "cancel": "事项撤销，不再计入考核，此后不能再办理。",
}
METHODS = {
    "assign": "AssignTask",
    "accept": "AcceptTask",
    "progress": "ReportProgress",
    "report": "ReportTask",
    "verify": "VerifyTask",
    "reject": "RejectTask",
    "close": "CloseTask",
    "cancel": "CancelTask",
}


def task_path(task_id: str) -> str:
    """A task's page; ids are free text (督办〔2025〕1号), so quoted."""
    return "/tasks/" + part(task_id)


def request_id_field() -> Markup:
    """A fresh request id, made when the form is drawn: submitting the same form twice acts once."""
    return fragment("tasks/request_id.html", request_id=new_request_id())


def new_request_id() -> str:
    return secrets.token_hex(16)


def unit_names(gw: Gateway, session: Session) -> dict[str, str]:
    reply = gw.call(gw.tasks.ListUnits, tasks_pb2.ListUnitsRequest(page_size=5000), session.token)
    return {u.id: u.name for u in reply.units}


def task_list(gw: Gateway, session: Session, request: Request) -> Response:
    """Tasks, filtered as the office's ledger is read: by unit, colour, state, overdue."""
    query = request.query_params
    known = people.units(gw, session)
    below = villages(session, known)
    chosen, overdue = chosen_filters(dict(query), session, below)
    listing = gw.call(
        gw.tasks.ListTasks,
        tasks_pb2.ListTasksRequest(
            page_size=PAGE_SIZE,
            page_token=query.get("page", ""),
            unit=chosen["unit"],
            color=typed_code(common_pb2.TaskColor.DESCRIPTOR, chosen["color"], "color"),
            state=typed_code(common_pb2.TaskState.DESCRIPTOR, chosen["state"], "state"),
            overdue=overdue,
            title=chosen["title"],
        ),
        session.token,
    )
    reply = as_text(listing, LOCAL)
    names = {u: n for u, (n, _) in known.items()}
    tasks = [
        {
            "id": t.id,
            "href": task_path(t.id),
            "title": t.title,
            "type": t.task_type_name or t.task_type,
            "lead": names.get(t.lead_unit, t.lead_unit),
            "co": "、".join(names.get(u, u) for u in t.co_units),
            "state": t.state_label or label_of(TASK_STATES, t.state),
            "color": t.color,
            "progress_overdue": bool(t.progress_overdue_since),
            "due_at": t.due_at,
            "outcome": label_of(OUTCOMES, t.outcome) if t.outcome else "",
        }
        for t in reply.tasks
    ]
    shown = {u: names[u] for u in (session.unit, *below) if u in names} if below else names
    return render(
        request,
        "tasks/list.html",
        title="督办事项",
        can_create=session.role in OFFICE_SIDE or bool(below),
        filters=filters_form(session, chosen, overdue, shown, pick=bool(below)),
        paged=bool(reply.next_page_token or query.get("page")),
        tasks=tasks,
        as_of=reply.as_of,
        pages=page_links(dict(query), chosen, overdue, reply.next_page_token),
    )


def villages(session: Session, known: dict[str, tuple[str, str]]) -> list[str]:
    """The units under a department's own (a 乡镇's 村): the ones it sees and dispatches to."""
    if session.role != "department":
        return []
    return sorted(u for u, (_, parent) in known.items() if parent and parent == session.unit)


def task_detail(gw: Gateway, session: Session, request: Request) -> Response:
    """One task: what it is, where it stands, its whole history, and the steps this caller may take."""
    extensions = start_listing(gw, session, task_id=request.path_params["task"])
    attached = attachments.start_listing(gw, session, request.path_params["task"])
    found = gw.call(gw.tasks.GetTask, tasks_pb2.GetTaskRequest(id=request.path_params["task"]), session.token)
    task = as_text(found, LOCAL).task
    known = people.units(gw, session)
    names = {u: n for u, (n, _) in known.items()}
    # A 乡镇 is the supervisor of its 村's tasks: it verifies, sends back and closes them.
    over = task.lead_unit in villages(session, known)
    facts = [
        (label, value, "")
        for label, value in (
            ("事项", task.title),
            ("类型", task.task_type_name or task.task_type),
            ("来源", task.source),
            ("牵头单位", names.get(task.lead_unit, task.lead_unit)),
            ("协办单位", "、".join(names.get(u, u) for u in task.co_units)),
            ("紧急程度", label_of(PRIORITIES, task.priority)),
            ("状态", task.state_label or label_of(TASK_STATES, task.state)),
            ("交办时间", instant(task.assigned_at)),
            ("应办结", instant(task.due_at)),
            ("反馈时间", instant(task.reported_at)),
            ("办理结果", label_of(OUTCOMES, task.outcome) if task.outcome else ""),
            ("下次进展报送", instant(task.next_progress_due)),
            ("逾期未报进展", instant(task.progress_overdue_since)),
        )
    ] + people.task_people(task)
    kinds = {**TASK_EVENT_KINDS, **TASK_NOTE_KINDS}
    history = [
        {
            "at": e.at,
            "kind": label_of(kinds, e.kind) + ("（已退回）" if e.rejected else ""),
            "by": e.by,
            "note": e.note + (f"（截止时间延至 {instant(e.due_at)}）" if e.due_at else ""),
        }
        for e in task.history
    ]
    return render(
        request,
        "tasks/detail.html",
        title=f"督办事项 {task.id}",
        color=task.color,
        facts=facts,
        steps=_steps(session, task, over=over),
        etag=task.etag,
        # Another group's section, its HTML made there.
        extensions=task_section(session, task, extensions, names),
        split=_split_link(session, task, known),
        parts=people.parts_section(task, names),
        attachments=attachments.section(session, task, attached),
        history=history,
    )


def _split_link(session: Session, task: Any, known: dict[str, tuple[str, str]]) -> str:
    """任务分解: the office's side may break any open task into parts; a 乡镇 its own, among its 村."""
    if task.state in ("closed", "cancelled") or task.reported_at:
        return ""
    if session.role not in OFFICE_SIDE and not (task.lead_unit == session.unit and villages(session, known)):
        return ""
    return "/tasks/new?" + urlencode({"parent": task.id})


def _steps(session: Session, task: Any, *, over: bool = False) -> list[dict[str, Any]]:
    """The steps this caller may take on the task now, each its own form (with its own request id)."""
    role = "supervisor" if over else session.role
    return [
        {
            "step": step,
            "label": label,
            "needs_note": needs_note,
            "action": f"{task_path(task.id)}/{step}",
            "request_id": new_request_id(),
        }
        for step, (label, roles, states, needs_note) in STEPS.items()
        if role in roles and task.state in states
    ]


def take_step(gw: Gateway, session: Session, request: Request) -> Response:
    """One step of the closed loop, as the form drawn for it asked."""
    task, step = request.path_params["task"], request.path_params["step"]
    if step not in STEPS:
        raise Refused(404, f"没有“{step}”这个办理环节")
    label, _, _, needs_note = STEPS[step]
    note = form_of(request).get("note", "").strip()
    back = task_path(task)
    if needs_note and not note:
        return redirect(back, error=f"{label}需要填写说明")
    if step in IRREVERSIBLE:
        asked = confirm_first(
            request,
            session,
            title=f"确认{label}",
            consequence=f"{label}督办事项 {task}：{IRREVERSIBLE[step]}",
            button=f"确认{label}",
            back=back,
        )
        if asked is not None:
            return asked
    gw.call(
        getattr(gw.tasks, METHODS[step]),
        getattr(tasks_pb2, METHODS[step] + "Request")(
            request_id=form_of(request).get("request_id", "") or new_request_id(),
            id=task,
            etag=form_of(request).get("etag", ""),
            note=note,
        ),
        session.token,
    )
    return redirect(back, ok=f"已{label}")


def new_task_form(gw: Gateway, session: Session, request: Request, message: str = "") -> Response:
    """立项: the office writes down a task and, usually, hands it over (交办) at once; a 乡镇 to its 村."""
    names = unit_names(gw, session)
    parent = request.query_params.get("parent", "")
    if session.role == "department":
        below = villages(session, people.units(gw, session))
        if not below:
            raise Refused(403, "本单位没有下辖村（社区），不能立项")
        names = {u: names[u] for u in below}
    return render(
        request,
        "tasks/new.html",
        title="立项",
        message=message,
        request_id=new_request_id(),
        types=_task_types(gw, session),
        units=names,
        priorities=PRIORITIES,
        parent=parent,
    )


def _all_values(request: Request, name: str) -> list[str]:
    """Every value of a field a form may repeat (a multiple select); form_of(request) keeps the first."""
    return form_all(request, name)


def _task_types(gw: Gateway, session: Session) -> dict[str, str]:
    scheme = gw.call(gw.scoring.GetScheme, scoring_pb2.GetSchemeRequest(), session.token).scheme
    declared = tomllib.loads(scheme.toml).get("task_types", {})
    return {code: str(spec.get("name", code)) for code, spec in declared.items()}


def create_task(gw: Gateway, session: Session, request: Request) -> Response:
    form = form_of(request)
    created = gw.call(
        gw.tasks.CreateTask,
        tasks_pb2.CreateTaskRequest(
            request_id=form.get("request_id", "") or new_request_id(),
            title=form.get("title", "").strip(),
            task_type=form.get("task_type", ""),
            lead_unit=form.get("lead_unit", ""),
            co_units=[u for u in _all_values(request, "co_units") if u and u != form.get("lead_unit")],
            priority=form.get("priority", "normal"),
            source=form.get("source", "").strip(),
            due_at=typed_instant(form.get("due_at", ""), "due_at"),
            assign_now=form.get("assign_now") == "1",
            note=form.get("note", "").strip(),
            parent=form.get("parent", "").strip(),
            responsible=form.get("responsible", "").strip(),
        ),
        session.token,
    ).task
    return redirect(task_path(created.id), ok=f"已立项 {created.id}（{created.state_label}）")
