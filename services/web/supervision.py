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
from urllib.parse import quote, urlencode

from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
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
from services.web.layout import LOCAL, Raw, colour, csrf_field, esc, frame, instant, notice, row, table
from services.web.replies import Refused, form_all, form_of, page, redirect
from services.web.sessions import Session
from services.web.task_filters import chosen_filters, filters_form, page_links

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
    return "/tasks/" + quote(task_id, safe="")


def request_id_field() -> str:
    """A fresh request id, made when the form is drawn: submitting the same form twice acts once."""
    return f'<input type="hidden" name="request_id" value="{secrets.token_hex(16)}">'


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
    rows = [
        row(
            [
                Raw(f'<a href="{esc(task_path(t.id))}">{esc(t.id)}</a>'),
                t.title,
                t.task_type_name or t.task_type,
                names.get(t.lead_unit, t.lead_unit),
                "、".join(names.get(u, u) for u in t.co_units),
                t.state_label or label_of(TASK_STATES, t.state),
                Raw(colour(t.color) + (" 逾期未报进展" if t.progress_overdue_since else "")),
                instant(t.due_at),
                label_of(OUTCOMES, t.outcome) if t.outcome else "",
            ]
        )
        for t in reply.tasks
    ]
    more = page_links(dict(query), chosen, overdue, reply.next_page_token)
    create = (
        '<p><a class="button" href="/tasks/new">立项（新建督办事项）</a></p>'
        if session.role in OFFICE_SIDE or below
        else ""
    )
    shown = {u: names[u] for u in (session.unit, *below) if u in names} if below else names
    body = (
        notice(query.get("ok", ""))
        + notice(query.get("error", ""), error=True)
        + create
        + filters_form(session, chosen, overdue, shown, pick=bool(below))
        + f"<p>{'本页 ' if reply.next_page_token or query.get('page') else '共 '}{len(reply.tasks)} 项，"
        f"颜色按 {esc(instant(reply.as_of))} 计。</p>"
        + table(
            ["编号", "事项", "类型", "牵头单位", "协办单位", "状态", "颜色", "应办结", "办理结果"],
            rows,
            caption="督办事项",
        )
        + more
    )
    return page(frame("督办事项", body, session))


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
    ]
    listing = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v)
    listing += "".join(f"<dt>{esc(k)}</dt><dd>{html}</dd>" for k, html in people.task_people(task))
    badge = colour(task.color)
    history = table(
        ["时间", "环节", "经办", "说明"],
        [
            row(
                [
                    instant(e.at),
                    label_of({**TASK_EVENT_KINDS, **TASK_NOTE_KINDS}, e.kind)
                    + ("（已退回）" if e.rejected else ""),
                    e.by,
                    e.note + (f"（截止时间延至 {e.due_at}）" if e.due_at else ""),
                ]
            )
            for e in task.history
        ],
        caption="办理过程",
    )
    body = (
        notice(request.query_params.get("ok", ""))
        + notice(request.query_params.get("error", ""), error=True)
        + f'<p>{badge} <a href="/tasks">返回督办事项</a></p><dl class="facts">{listing}</dl>'
        + _steps(session, task, over=over)
        + str(task_section(session, task, extensions))  # Markup would escape the str before it
        + _split_link(session, task, known)
        + people.parts_section(task, names)
        + attachments.section(session, task, attached)
        + history
    )
    return page(frame(f"督办事项 {task.id}", body, session))


def _split_link(session: Session, task: Any, known: dict[str, tuple[str, str]]) -> str:
    """任务分解: the office's side may break any open task into parts; a 乡镇 its own, among its 村."""
    if task.state in ("closed", "cancelled") or task.reported_at:
        return ""
    if session.role not in OFFICE_SIDE and not (task.lead_unit == session.unit and villages(session, known)):
        return ""
    target = "/tasks/new?" + urlencode({"parent": task.id})
    return f'<p><a class="button" href="{esc(target)}">分解（为本任务立一项子任务）</a></p>'


def _steps(session: Session, task: Any, *, over: bool = False) -> str:
    forms = []
    role = "supervisor" if over else session.role
    for step, (label, roles, states, needs_note) in STEPS.items():
        if role not in roles or task.state not in states:
            continue
        note = (
            f'<label for="note-{step}">{esc(label)}说明</label>'
            f'<textarea id="note-{step}" name="note" required maxlength="2000" rows="2"></textarea>'
            if needs_note
            else ""
        )
        forms.append(
            f'<form method="post" action="{esc(task_path(task.id))}/{step}" class="step">'
            f"{csrf_field(session)}{request_id_field()}"
            f'<input type="hidden" name="etag" value="{esc(task.etag)}">{note}'
            f'<button type="submit" data-step="{step}">{esc(label)}</button></form>'
        )
    if not forms:
        return ""
    return '<section aria-label="办理" class="steps"><h2>办理</h2>' + "".join(forms) + "</section>"


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
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
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
    types = _task_types(gw, session)
    unit_options = "".join(
        f'<option value="{esc(u)}">{esc(n)}（{esc(u)}）</option>' for u, n in names.items()
    )
    type_options = "".join(f'<option value="{esc(t)}">{esc(n)}</option>' for t, n in types.items())
    priority_options = "".join(f'<option value="{esc(p)}">{esc(n)}</option>' for p, n in PRIORITIES.items())
    fields = [
        _field("title", "事项名称", '<input id="title" name="title" required maxlength="500">'),
        _field(
            "task_type",
            "类型（决定办理时限）",
            f'<select id="task_type" name="task_type">{type_options}</select>',
        ),
        _field("lead_unit", "牵头单位", f'<select id="lead_unit" name="lead_unit">{unit_options}</select>'),
        _field(
            "co_units",
            "协办单位（可多选）",
            f'<select id="co_units" name="co_units" multiple size="6">{unit_options}</select>',
        ),
        _field("priority", "紧急程度", f'<select id="priority" name="priority">{priority_options}</select>'),
        _field("source", "来源（如 督办〔2026〕1号）", '<input id="source" name="source" maxlength="200">'),
        _field(
            "due_at",
            "办结时限（留空按类型自动计算，格式 2026-12-31T18:00:00+08:00）",
            '<input id="due_at" name="due_at" maxlength="40">',
        ),
        _field(
            "parent",
            "上级任务编号（任务分解时填写，可留空）",
            f'<input id="parent" name="parent" maxlength="64" value="{esc(parent)}">',
        ),
        _field(
            "responsible",
            "责任人代码（牵头单位的人员，可留空）",
            '<input id="responsible" name="responsible" maxlength="64">',
        ),
        _field("note", "交办说明", '<textarea id="note" name="note" maxlength="2000" rows="3"></textarea>'),
        '<label><input type="checkbox" name="assign_now" value="1" checked> 立项后立即交办</label>',
    ]
    body = (
        notice(message, error=True)
        + notice(request.query_params.get("error", ""), error=True)
        + f'<form method="post" action="/tasks" class="stack">{csrf_field(session)}{request_id_field()}'
        + "".join(fields)
        + '<button type="submit">立项</button></form>'
    )
    return page(frame("立项", body, session))


def _field(name: str, label: str, control: str) -> str:
    return f'<label for="{name}">{esc(label)}</label>{control}'


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
            request_id=form.get("request_id", "") or secrets.token_hex(16),
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
    return redirect("/tasks/" + created.id, ok=f"已立项 {created.id}（{created.state_label}）")
