"""Appeals (申诉) and 容错 applications in the console: a department files them, the office decides them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format, struct_pb2
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.appeal_labels import (
    APPEAL_STATES,
    APPEAL_TARGETS,
    APPLICATION_DECISIONS,
    APPLICATION_STATES,
    APPLICATION_TARGETS,
    EVENTS,
    actor_label,
    outcome_label,
)
from services.common.protoenum import enum_code
from services.common.wire_json import lenient_number
from services.common.wiretime import date_of, rfc3339_of
from services.web import item_attachments
from services.web.gateway import Gateway
from services.web.layout import LOCAL, Raw, csrf_field, esc, frame, instant, notice, row, table, unit_attrs
from services.web.replies import form_of, page, part, redirect
from services.web.sessions import Session

ZONE = ZoneInfo("Asia/Shanghai")
PAGE = 1000
APPLICATION_STATE = scoring_pb2.ApplicationState.DESCRIPTOR


def _code(enum: Any, number: int) -> str:
    """An enum field of a message as its code ("pending", "task" …)."""
    return enum_code(enum.DESCRIPTOR, number)


def _flash(request: Request) -> str:
    return notice(request.query_params.get("ok", "")) + notice(
        request.query_params.get("error", ""), error=True
    )


def timeline(events: Iterable[Any]) -> Raw:
    """A timeline as an ordered list: each step's time, who (role and unit), the outcome and the reason."""
    items = []
    for e in events:
        who = actor_label({"actor_role": e.actor_role, "actor_unit": e.actor_unit})
        event, code = (
            _code(scoring_pb2.TimelineEventKind, e.event),
            _code(scoring_pb2.TimelineOutcome, e.outcome),
        )
        outcome = f"：{outcome_label(code)}" if code else ""
        reason = f"（{e.reason}）" if e.reason else ""
        items.append(
            f'<li data-event="{esc(event)}"><time>{esc(instant(rfc3339_of(e, "at", LOCAL)))}</time> '
            f"{esc(who)} {esc(EVENTS.get(event, event))}{esc(outcome)}{esc(reason)}</li>"
        )
    return Raw(f'<ol class="timeline">{"".join(items)}</ol>')


def _applications(gw: Gateway, session: Session, **filters: Any) -> list[Any]:
    request = scoring_pb2.ListApplicationsRequest(page_size=PAGE, **filters)
    return list(gw.call(gw.scoring.ListApplications, request, session.token).applications)


def _appeals(gw: Gateway, session: Session, **filters: Any) -> list[Any]:
    request = scoring_pb2.ListAppealsRequest(page_size=PAGE, **filters)
    return list(gw.call(gw.scoring.ListAppeals, request, session.token).appeals)


def _target(terms: Mapping[str, str], target_type: str, target: str) -> str:
    return f"{terms.get(target_type, target_type)} {target}"


def _options(choices: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{esc(value)}">{esc(text)}</option>' for value, text in choices)


def _unit_choices(gw: Gateway, session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(what the unit may apply for: tasks and error reports, what it may appeal: reports and 问责)."""
    tasks = gw.call(gw.tasks.ListTasks, tasks_pb2.ListTasksRequest(page_size=5000), session.token).tasks
    records = gw.call(
        gw.scoring.ListRecords, scoring_pb2.ListRecordsRequest(page_size=5000), session.token
    ).records
    reports, accountability = [], []
    for record in records:
        fields = json_format.MessageToDict(record.fields)
        if record.kind == scoring_pb2.RECORD_KIND_ERROR_REPORT:
            reports.append(
                (f"error_report:{record.id}", f"差错通报 {record.id} {fields.get('description', '')}")
            )
        elif record.kind == scoring_pb2.RECORD_KIND_ACCOUNTABILITY:
            accountability.append(
                (f"accountability:{record.id}", f"问责 {record.id} {fields.get('reason', '')}")
            )
    task_choices = [
        (f"task:{t.id}", f"任务 {t.id} {t.title}")
        for t in tasks
        if t.state != common_pb2.TASK_STATE_CANCELLED
    ]
    return task_choices + reports, reports + accountability


def _request_field() -> str:
    """A request id rendered with the form: a form sent twice (a double click, a resend) acts once."""
    return f'<input type="hidden" name="request_id" value="{secrets.token_hex(16)}">'


def _form(action: str, session: Session, *, select_id: str, label: str, choices: str, button: str) -> str:
    return (
        f'<form method="post" action="{action}" class="stacked">{csrf_field(session)}'
        f"{_request_field()}"
        f'<label for="{select_id}">{esc(label)}</label><select id="{select_id}" name="target" required>'
        f"{choices}</select>"
        f'<label for="{select_id}-reason">理由</label>'
        f'<textarea id="{select_id}-reason" name="reason" required maxlength="2000" rows="3"></textarea>'
        f'<button type="submit">{esc(button)}</button></form>'
    )


def unit_page(gw: Gateway, session: Session, request: Request) -> Response:
    """The department's page: apply for 容错, appeal, and the timeline of each of its own."""
    applicable, appealable = _unit_choices(gw, session)
    apps = _applications(gw, session)
    appeals = _appeals(gw, session)
    app_files = item_attachments.start_cells(gw, session, "application", [a.id for a in apps])
    appeal_files = item_attachments.start_cells(gw, session, "appeal", [a.id for a in appeals])
    body = [
        _flash(request),
        "<h2>申请容错</h2>",
        "<p>就本单位牵头或协办的事项、本单位的差错通报申请容错。该年度定档前可以申请；考核结果公示后，"
        "到公示申诉期截止为止。</p>",
        _form(
            "/unit/applications",
            session,
            select_id="application-target",
            label="申请对象",
            choices=_options(applicable),
            button="提交容错申请",
        ),
        "<h2>提出申诉</h2>",
        "<p>对本单位的差错通报或问责记录提出申诉，只在考核结果公示申诉期内受理。</p>",
        _form(
            "/unit/appeals",
            session,
            select_id="appeal-target",
            label="申诉对象",
            choices=_options(appealable),
            button="提交申诉",
        ),
        "<h2>本单位的容错申请</h2>",
        applications_table(
            apps,
            session,
            decide=False,
            files=item_attachments.cells(session, "application", app_files, upload=True),
        ),
        "<h2>本单位的申诉</h2>",
        appeals_table(
            appeals,
            session,
            decide=False,
            files=item_attachments.cells(session, "appeal", appeal_files, upload=True),
        ),
    ]
    return page(frame("申诉与容错", "".join(body), session))


def _split(value: str, allowed: Mapping[str, str]) -> tuple[str, str]:
    kind, _, target = value.partition(":")
    return (kind, target) if kind in allowed and target else ("", "")


def file_application(gw: Gateway, session: Session, request: Request) -> Response:
    target_type, target = _split(form_of(request).get("target", ""), APPLICATION_TARGETS)
    reason = form_of(request).get("reason", "").strip()
    if not target or not reason:
        return redirect("/unit/appeals", error="请选择申请对象并填写理由")
    made = gw.call(
        gw.scoring.FileApplication,
        scoring_pb2.FileApplicationRequest(
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
            target_type=lenient_number(scoring_pb2.ApplicationTargetType.DESCRIPTOR, target_type),  # type: ignore[arg-type]
            target=target,
            reason=reason,
        ),
        session.token,
    ).application
    return redirect("/unit/appeals", ok=f"已提交容错申请 {made.id}，等待考核办裁决")


def file_appeal(gw: Gateway, session: Session, request: Request) -> Response:
    target_type, target = _split(form_of(request).get("target", ""), APPEAL_TARGETS)
    reason = form_of(request).get("reason", "").strip()
    if not target or not reason:
        return redirect("/unit/appeals", error="请选择申诉对象并填写理由")
    fields = struct_pb2.Struct()
    fields.update(
        {
            "id": f"SS-{target}-{secrets.token_hex(3)}",
            "target_type": target_type,
            "target": target,
            "date": datetime.now(ZONE).date().isoformat(),
            "reason": reason,
        }
    )
    made = gw.call(
        gw.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
            kind=scoring_pb2.RECORD_KIND_APPEAL,
            fields=fields,
        ),
        session.token,
    ).record
    return redirect("/unit/appeals", ok=f"已提交申诉 {made.id}，等待考核办裁决")


def applications_table(
    apps: list[Any], session: Session, *, decide: bool, files: Mapping[str, object] | None = None
) -> str:
    """The 容错 applications; with files (id → its 附件 cell), a column of their attachments."""
    rows = []
    for a in apps:
        code = _code(scoring_pb2.ApplicationState, a.state)
        state: object = APPLICATION_STATES.get(code, code)
        if decide and code == "pending" and session.role == "office":
            buttons = "".join(
                f'<button type="submit" name="decision" value="{code}">{esc(text)}</button>'
                for code, text in APPLICATION_DECISIONS.items()
            )
            state = Raw(
                f'<form method="post" action="/office/tolerance/{esc(part(a.id))}/decide" class="inline">'
                f"{csrf_field(session)}{_request_field()}"
                f'<label for="reason-{esc(a.id)}">裁决理由</label>'
                f'<input id="reason-{esc(a.id)}" name="reason" required maxlength="2000">{buttons}</form>'
            )
        rows.append(
            row(
                [
                    a.id,
                    a.unit,
                    a.year,
                    _target(
                        APPLICATION_TARGETS, _code(scoring_pb2.ApplicationTargetType, a.target_type), a.target
                    ),
                    a.reason,
                    state,
                    a.decision_reason,
                    timeline(a.timeline),
                    *([files.get(a.id, "")] if files is not None else []),
                ],
                attrs=unit_attrs(a.unit) + f' data-application="{esc(a.id)}" data-state="{esc(code)}"',
            )
        )
    headers = ["申请", "单位", "年度", "对象", "理由", "状态", "裁决理由", "经过"]
    return table(headers + (["附件"] if files is not None else []), rows)


def appeals_table(
    appeals: list[Any], session: Session, *, decide: bool, files: Mapping[str, object] | None = None
) -> str:
    """The appeals; with files (id → its 附件 cell), a column of their attachments."""
    rows = []
    for a in appeals:
        code = _code(scoring_pb2.AppealState, a.state)
        state: object = APPEAL_STATES.get(code, code)
        if decide and code == "pending" and session.role == "office":
            state = Raw(
                f'<form method="post" action="/office/appeals/{esc(part(a.id))}/decide" class="inline">'
                f'{csrf_field(session)}<label for="upheld-{esc(a.id)}">裁决</label>'
                f'<select id="upheld-{esc(a.id)}" name="upheld">'
                '<option value="no">不成立</option><option value="yes">成立</option></select>'
                f'<label for="why-{esc(a.id)}">理由</label>'
                f'<input id="why-{esc(a.id)}" name="reason" required maxlength="500">'
                "<button type=submit>裁决</button></form>"
            )
        rows.append(
            row(
                [
                    a.id,
                    a.unit,
                    a.target,
                    _target(APPEAL_TARGETS, _code(scoring_pb2.AppealTargetType, a.target_type), "").strip(),
                    str(date_of(a.date) or ""),
                    a.reason,
                    state,
                    a.decision_reason,
                    timeline(a.timeline),
                    *([files.get(a.id, "")] if files is not None else []),
                ],
                attrs=unit_attrs(a.unit) + f' data-appeal="{esc(a.id)}" data-state="{esc(code)}"',
            )
        )
    headers = ["申诉", "单位", "所申诉的记录", "类别", "日期", "理由", "裁决", "裁决理由", "经过"]
    return table(headers + (["附件"] if files is not None else []), rows)


def office_appeals(gw: Gateway, session: Session, request: Request) -> Response:
    """Every appeal, the undecided first, with the form that decides each and its timeline."""
    appeals = sorted(_appeals(gw, session), key=lambda a: a.state != scoring_pb2.APPEAL_STATE_PENDING)
    files = item_attachments.start_cells(gw, session, "appeal", [a.id for a in appeals])
    shown = item_attachments.cells(session, "appeal", files)
    body = _flash(request) + appeals_table(appeals, session, decide=True, files=shown)
    return page(frame("申诉", body, session))


def office_applications(gw: Gateway, session: Session, request: Request) -> Response:
    """Every 容错 application, the pending first, decided by a button with a reason."""
    apps = sorted(_applications(gw, session), key=lambda a: a.state != scoring_pb2.APPLICATION_STATE_PENDING)
    pending = sum(1 for a in apps if a.state == scoring_pb2.APPLICATION_STATE_PENDING)
    files = item_attachments.cells(
        session, "application", item_attachments.start_cells(gw, session, "application", [a.id for a in apps])
    )
    body = (
        _flash(request) + f"<p>待裁决 {pending} 项。免责、减轻当即记为容错纠错记录，下次考核运行计入；"
        "有待裁决的申请时不能定档。</p>" + applications_table(apps, session, decide=True, files=files)
    )
    return page(frame("容错申请", body, session))


def decide_application(gw: Gateway, session: Session, request: Request) -> Response:
    app_id = request.path_params["application"]
    reason = form_of(request).get("reason", "").strip()
    decision = form_of(request).get("decision", "")
    if not reason:
        return redirect("/office/tolerance", error="请填写裁决理由")
    made = gw.call(
        gw.scoring.DecideApplication,
        scoring_pb2.DecideApplicationRequest(
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
            id=app_id,
            decision=lenient_number(APPLICATION_STATE, decision),  # type: ignore[arg-type]
            reason=reason,
        ),
        session.token,
    ).application
    state = enum_code(APPLICATION_STATE, made.state)
    label = APPLICATION_STATES.get(state, state)
    return redirect("/office/tolerance", ok=f"已裁决容错申请 {made.id}：{label}")
