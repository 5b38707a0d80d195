"""People in the console: the 责任人 list, a person's page, each person's load, a task's people and parts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import TASK_STATES, label_of
from services.common.wire_text import as_text
from services.web.gateway import Gateway
from services.web.layout import LOCAL, Raw, colour, esc, frame, row, table
from services.web.replies import page
from services.web.sessions import Session


def person_path(person_id: str) -> str:
    """A person's page; ids are free text, so quoted."""
    return "/persons/" + quote(person_id, safe="")


def _task_path(task_id: str) -> str:
    return "/tasks/" + quote(task_id, safe="")


def units(gw: Gateway, session: Session) -> dict[str, tuple[str, str]]:
    """unit id → (name, parent unit id) of the units the caller may list."""
    reply = gw.call(gw.tasks.ListUnits, tasks_pb2.ListUnitsRequest(page_size=5000), session.token)
    return {u.id: (u.name, u.parent) for u in reply.units}


def _people(gw: Gateway, session: Session, *, unit: str = "", person: str = "") -> Any:
    reply = gw.call(gw.tasks.ListPersons, tasks_pb2.ListPersonsRequest(unit=unit, id=person), session.token)
    return as_text(reply, LOCAL)


def load_table(persons: Any, names: dict[str, tuple[str, str]], *, caption: str) -> str:
    """Each person's load: their open tasks by colour (as 责任人 or 包保领导)."""
    return table(
        ["姓名", "单位", "职务", "手机", "在办", "黄灯", "红灯"],
        [
            row(
                [
                    Raw(
                        f'<a href="{esc(person_path(p.id))}">{esc(p.name)}</a>'
                        + ("（领导）" if p.leader else "")
                    ),
                    names.get(p.unit, (p.unit, ""))[0],
                    p.post,
                    p.mobile or "—",
                    p.open,
                    p.yellow,
                    p.red,
                ],
                attrs=f' data-person="{esc(p.id)}"',
                numeric=(4, 5, 6),
            )
            for p in persons
        ],
        caption=caption,
    )


def desk_load(gw: Gateway, session: Session) -> str:
    """The department desk's section: each of its people's load."""
    reply = _people(gw, session, unit=session.unit)
    names = units(gw, session)
    return "<h2>本单位责任人在办事项</h2>" + load_table(reply.persons, names, caption="责任人负荷")


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
    links = "".join(
        f'<a href="/persons?unit={esc(quote(u, safe=""))}">{esc(n)}</a> ' for u, n in sorted(below.items())
    )
    picker = f"<p>下辖村（社区）：{links}</p>" if links else ""
    body = (
        picker + "<p>手机号只向考核办和本单位显示。</p>" + load_table(reply.persons, names, caption="责任人")
    )
    return page(frame("责任人", body, session))


def person_page(gw: Gateway, session: Session, request: Request) -> Response:
    """One person: their open, yellow and red tasks, and every task naming them."""
    reply = _people(gw, session, person=request.path_params["person"])
    person = reply.persons[0]
    names = units(gw, session)
    facts = [
        ("单位", names.get(person.unit, (person.unit, ""))[0]),
        ("职务", person.post),
        ("县级领导", "是" if person.leader else ""),
        ("手机", person.mobile),
        ("在办 / 黄灯 / 红灯", f"{person.open} / {person.yellow} / {person.red}"),
    ]
    listing = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v)
    rows = [
        row(
            [
                Raw(f'<a href="{esc(_task_path(t.id))}">{esc(t.id)}</a>'),
                t.title,
                "责任人" if t.responsible == person.id else "包保领导",
                names.get(t.lead_unit, (t.lead_unit, ""))[0],
                t.state_label or label_of(TASK_STATES, t.state),
                Raw(colour(t.color)),
                t.due_at,
            ]
        )
        for t in sorted(
            person.tasks, key=lambda t: ({"red": 0, "yellow": 1, "blue": 2}.get(t.color, 3), t.due_at)
        )
    ]
    body = f'<p><a href="/persons">返回责任人</a></p><dl class="facts">{listing}</dl>' + table(
        ["编号", "事项", "角色", "牵头单位", "状态", "颜色", "应办结"], rows, caption="名下任务"
    )
    return page(frame(f"{person.name}", body, session))


def _person_link(person_id: str, name: str) -> str:
    return f'<a href="{esc(person_path(person_id))}">{esc(name or person_id)}</a>'


def task_people(task: Any) -> list[tuple[str, str]]:
    """The task page's facts about people and parts: (label, HTML)."""
    out = []
    if task.responsible:
        out.append(("责任人", _person_link(task.responsible, task.responsible_name)))
    if task.leader:
        out.append(("包保领导", _person_link(task.leader, task.leader_name)))
    if task.parent:
        out.append(("上级任务", f'<a href="{esc(_task_path(task.parent))}">{esc(task.parent)}</a>'))
    return out


def parts_section(task: Any, names: dict[str, str]) -> str:
    """A parent task's parts and how far each has got (任务分解)."""
    if not task.parts:
        return ""
    done = sum(1 for p in task.parts if p.state == "closed")
    reported = sum(1 for p in task.parts if p.reported_at or p.state == "closed")
    rows = [
        row(
            [
                Raw(f'<a href="{esc(_task_path(p.id))}">{esc(p.id)}</a>'),
                p.title,
                names.get(p.lead_unit, p.lead_unit),
                p.state_label or label_of(TASK_STATES, p.state),
                Raw(colour(p.color)),
                p.due_at,
                p.reported_at,
            ],
            attrs=f' data-unit="{esc(p.lead_unit)}"',
        )
        for p in task.parts
    ]
    return (
        f"<h2>任务分解（{len(task.parts)} 项：已反馈 {reported}，已销号 {done}）</h2>"
        "<p>全部子任务反馈后本任务才能反馈，全部子任务销号后本任务才能销号。</p>"
        + table(["编号", "子任务", "承办单位", "状态", "颜色", "应办结", "反馈时间"], rows, caption="子任务")
    )
