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
from markupsafe import Markup
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
from services.web.extensions import files_cell
from services.web.gateway import Gateway
from services.web.layout import LOCAL, instant
from services.web.replies import form_of, redirect
from services.web.sessions import Session
from services.web.supervision import unit_names
from services.web.templating import fragment, render

ZONE = ZoneInfo("Asia/Shanghai")
PAGE = 1000
APPLICATION_STATE = scoring_pb2.ApplicationState.DESCRIPTOR


def _code(enum: Any, number: int) -> str:
    """An enum field of a message as its code ("pending", "task" …)."""
    return enum_code(enum.DESCRIPTOR, number)


def timeline(events: Iterable[Any], names: Mapping[str, str]) -> list[dict[str, str]]:
    """A timeline's steps, as records/macros.html lists them: each one's time, who (role and unit, by
    name), the outcome and the reason."""
    steps = []
    for e in events:
        who = actor_label({"actor_role": e.actor_role, "actor_unit": names.get(e.actor_unit, e.actor_unit)})
        event, code = (
            _code(scoring_pb2.TimelineEventKind, e.event),
            _code(scoring_pb2.TimelineOutcome, e.outcome),
        )
        outcome = f"：{outcome_label(code)}" if code else ""
        reason = f"（{e.reason}）" if e.reason else ""
        steps.append(
            {
                "event": event,
                "at": instant(rfc3339_of(e, "at", LOCAL)),
                "text": f"{who} {EVENTS.get(event, event)}{outcome}{reason}",
            }
        )
    return steps


def _applications(gw: Gateway, session: Session, **filters: Any) -> list[Any]:
    request = scoring_pb2.ListApplicationsRequest(page_size=PAGE, **filters)
    return list(gw.call(gw.scoring.ListApplications, request, session.token).applications)


def _appeals(gw: Gateway, session: Session, **filters: Any) -> list[Any]:
    request = scoring_pb2.ListAppealsRequest(page_size=PAGE, **filters)
    return list(gw.call(gw.scoring.ListAppeals, request, session.token).appeals)


def _target(terms: Mapping[str, str], target_type: str, target: str) -> str:
    return f"{terms.get(target_type, target_type)} {target}"


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


def unit_page(gw: Gateway, session: Session, request: Request) -> Response:
    """The department's page: apply for 容错, appeal, and the timeline of each of its own."""
    applicable, appealable = _unit_choices(gw, session)
    names = unit_names(gw, session)
    apps = _applications(gw, session)
    appeals = _appeals(gw, session)
    app_files = item_attachments.start_cells(gw, session, "application", [a.id for a in apps])
    appeal_files = item_attachments.start_cells(gw, session, "appeal", [a.id for a in appeals])
    return render(
        request,
        "records/unit_appeals.html",
        title="申诉与容错",
        applicable=applicable,
        appealable=appealable,
        application_request_id=secrets.token_hex(16),
        appeal_request_id=secrets.token_hex(16),
        applications=applications_table(
            apps,
            session,
            decide=False,
            files=item_attachments.cells(session, "application", app_files, upload=True),
            names=names,
        ),
        appeals=appeals_table(
            appeals,
            session,
            decide=False,
            files=item_attachments.cells(session, "appeal", appeal_files, upload=True),
            names=names,
        ),
    )


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
    apps: list[Any],
    session: Session,
    *,
    decide: bool,
    files: Mapping[str, object] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    """The 容错 applications; with files (id → its 附件 cell), a column of their attachments;
    with names (unit code → name), each unit by its name."""
    shown = []
    for a in apps:
        code = _code(scoring_pb2.ApplicationState, a.state)
        target_type = _code(scoring_pb2.ApplicationTargetType, a.target_type)
        shown.append(
            {
                "id": a.id,
                "unit": a.unit,
                "unit_name": (names or {}).get(a.unit, a.unit),
                "year": a.year,
                "target": _target(APPLICATION_TARGETS, target_type, a.target),
                "reason": a.reason,
                "state": code,
                "state_label": APPLICATION_STATES.get(code, code),
                "decide": decide and code == "pending" and session.role == "office",
                "request_id": secrets.token_hex(16),
                "decision_reason": a.decision_reason,
                "timeline": timeline(a.timeline, names or {}),
                "files": files_cell(files.get(a.id, "")) if files is not None else "",
            }
        )
    return fragment(
        "records/applications_table.html",
        apps=shown,
        with_files=files is not None,
        decisions=APPLICATION_DECISIONS,
        csrf=session.csrf,
    )


def appeals_table(
    appeals: list[Any],
    session: Session,
    *,
    decide: bool,
    files: Mapping[str, object] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    """The appeals; with files (id → its 附件 cell), a column of their attachments;
    with names (unit code → name), each unit by its name."""
    shown = []
    for a in appeals:
        code = _code(scoring_pb2.AppealState, a.state)
        target_type = _code(scoring_pb2.AppealTargetType, a.target_type)
        shown.append(
            {
                "id": a.id,
                "unit": a.unit,
                "unit_name": (names or {}).get(a.unit, a.unit),
                "target": a.target,
                "target_type": _target(APPEAL_TARGETS, target_type, "").strip(),
                "date": str(date_of(a.date) or ""),
                "reason": a.reason,
                "state": code,
                "state_label": APPEAL_STATES.get(code, code),
                "decide": decide and code == "pending" and session.role == "office",
                "decision_reason": a.decision_reason,
                "timeline": timeline(a.timeline, names or {}),
                "files": files_cell(files.get(a.id, "")) if files is not None else "",
            }
        )
    return fragment(
        "records/appeals_table.html", appeals=shown, with_files=files is not None, csrf=session.csrf
    )


def office_appeals(gw: Gateway, session: Session, request: Request) -> Response:
    """Every appeal, the undecided first, with the form that decides each and its timeline."""
    appeals = sorted(_appeals(gw, session), key=lambda a: a.state != scoring_pb2.APPEAL_STATE_PENDING)
    files = item_attachments.start_cells(gw, session, "appeal", [a.id for a in appeals])
    shown = item_attachments.cells(session, "appeal", files)
    table = appeals_table(appeals, session, decide=True, files=shown, names=unit_names(gw, session))
    return render(request, "records/office_appeals.html", title="申诉", appeals=table)


def office_applications(gw: Gateway, session: Session, request: Request) -> Response:
    """Every 容错 application, the pending first, decided by a button with a reason."""
    apps = sorted(_applications(gw, session), key=lambda a: a.state != scoring_pb2.APPLICATION_STATE_PENDING)
    pending = sum(1 for a in apps if a.state == scoring_pb2.APPLICATION_STATE_PENDING)
    files = item_attachments.cells(
        session, "application", item_attachments.start_cells(gw, session, "application", [a.id for a in apps])
    )
    return render(
        request,
        "records/office_tolerance.html",
        title="容错申请",
        pending=pending,
        applications=applications_table(
            apps, session, decide=True, files=files, names=unit_names(gw, session)
        ),
    )


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
