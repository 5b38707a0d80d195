"""People in the console: the 责任人 list, a person's page, each person's load, a task's people and parts."""

from __future__ import annotations

from typing import Any

from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import TASK_STATES, label_of
from services.common.wire_text import as_text
from services.web.gateway import Gateway
from services.web.layout import LOCAL
from services.web.replies import part
from services.web.sessions import Session
from services.web.templating import fragment, render


def person_path(person_id: str) -> str:
    """A person's page; ids are free text, so quoted."""
    return "/persons/" + part(person_id)


def _task_path(task_id: str) -> str:
    return "/tasks/" + part(task_id)


def units(gw: Gateway, session: Session) -> dict[str, tuple[str, str]]:
    """unit id → (name, parent unit id) of the units the caller may list."""
    reply = gw.call(gw.tasks.ListUnits, tasks_pb2.ListUnitsRequest(page_size=5000), session.token)
    return {u.id: (u.name, u.parent) for u in reply.units}


def _people(gw: Gateway, session: Session, *, unit: str = "", person: str = "") -> Any:
    reply = gw.call(gw.tasks.ListPersons, tasks_pb2.ListPersonsRequest(unit=unit, id=person), session.token)
    return as_text(reply, LOCAL)


def load_table(persons: Any, names: dict[str, tuple[str, str]], *, caption: str) -> Markup:
    """Each person's load: their open tasks by colour (as 责任人 or 包保领导)."""
    rows = [
        {
            "id": p.id,
            "href": person_path(p.id),
            "name": p.name,
            "leader": p.leader,
            "unit": names.get(p.unit, (p.unit, ""))[0],
            "post": p.post,
            "mobile": p.mobile,
            "open": p.open,
            "yellow": p.yellow,
            "red": p.red,
        }
        for p in persons
    ]
    return fragment("tasks/load_table.html", persons=rows, caption=caption)


def desk_load(gw: Gateway, session: Session) -> Markup:
    """The department desk's section: each of its people's load."""
    reply = _people(gw, session, unit=session.unit)
    names = units(gw, session)
    return fragment("tasks/desk_load.html", table=load_table(reply.persons, names, caption="责任人负荷"))


def persons_page(gw: Gateway, session: Session, request: Request) -> Response:
    """Every person the caller may see (a department its own; a 乡镇 may pick one of its 村)."""
    names = units(gw, session)
    chosen = request.query_params.get("unit", "")
    if session.role == "department" and chosen not in {
        u for u, (_, parent) in names.items() if parent == session.unit
    }:
        chosen = ""
    reply = _people(gw, session, unit=chosen)
    below = {
        u: n
        for u, (n, parent) in names.items()
        if parent and (session.role != "department" or parent == session.unit)
    }
    return render(
        request,
        "tasks/persons.html",
        title="责任人",
        villages=[(n, "/persons?unit=" + part(u)) for u, n in sorted(below.items())],
        table=load_table(reply.persons, names, caption="责任人"),
    )


def person_page(gw: Gateway, session: Session, request: Request) -> Response:
    """One person: their open, yellow and red tasks, and every task naming them."""
    reply = _people(gw, session, person=request.path_params["person"])
    person = reply.persons[0]
    names = units(gw, session)
    facts = [
        ("单位", names.get(person.unit, (person.unit, ""))[0], ""),
        ("职务", person.post, ""),
        ("县级领导", "是" if person.leader else "", ""),
        ("手机", person.mobile, ""),
        ("在办 / 黄灯 / 红灯", f"{person.open} / {person.yellow} / {person.red}", ""),
    ]
    urgency = {"red": 0, "yellow": 1, "blue": 2}
    ordered = sorted(person.tasks, key=lambda t: (urgency.get(t.color, 3), t.due_at))
    tasks = [
        {
            "id": t.id,
            "href": _task_path(t.id),
            "title": t.title,
            "role": "责任人" if t.responsible == person.id else "包保领导",
            "lead": names.get(t.lead_unit, (t.lead_unit, ""))[0],
            "state": t.state_label or label_of(TASK_STATES, t.state),
            "color": t.color,
            "due_at": t.due_at,
        }
        for t in ordered
    ]
    return render(request, "tasks/person.html", title=person.name, facts=facts, tasks=tasks)


def task_people(task: Any) -> list[tuple[str, str, str]]:
    """The task page's facts about people and parts: (label, text, the page it links to)."""
    out = []
    if task.responsible:
        out.append(("责任人", task.responsible_name or task.responsible, person_path(task.responsible)))
    if task.leader:
        out.append(("包保领导", task.leader_name or task.leader, person_path(task.leader)))
    if task.parent:
        out.append(("上级任务", task.parent, _task_path(task.parent)))
    return out


def parts_section(task: Any, names: dict[str, str]) -> Markup:
    """A parent task's parts and how far each has got (任务分解); nothing when it has none."""
    if not task.parts:
        return Markup()
    parts = [
        {
            "id": p.id,
            "href": _task_path(p.id),
            "unit": p.lead_unit,
            "title": p.title,
            "lead": names.get(p.lead_unit, p.lead_unit),
            "state": p.state_label or label_of(TASK_STATES, p.state),
            "color": p.color,
            "due_at": p.due_at,
            "reported_at": p.reported_at,
        }
        for p in task.parts
    ]
    return fragment(
        "tasks/parts.html",
        parts=parts,
        reported=sum(1 for p in task.parts if p.reported_at or p.state == "closed"),
        done=sum(1 for p in task.parts if p.state == "closed"),
    )
