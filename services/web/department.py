"""A department's desk: its live standing, open tasks, latest published result, history, appeals."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import struct_pb2
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.protoenum import enum_code
from services.common.result_wire import result_to_json_dict
from services.common.vocabulary import METRIC_STATUSES, TASK_STATES, label_of
from services.common.wire_json import utc_text
from services.web import people
from services.web.gateway import Gateway
from services.web.layout import grade_label, num, run_state, run_time
from services.web.replies import download, form_of, redirect
from services.web.results import explained, indicator_chart
from services.web.sessions import Session
from services.web.supervision import task_path
from services.web.templating import fragment, render
from services.web.trend import start_trend, start_units, trend_chart, unit_levels

SHOWN_STATES = ("publicised", "final")
ZONE = ZoneInfo("Asia/Shanghai")


def runs_of(gw: Gateway, session: Session, year: int = 0) -> list[Any]:
    """The runs the caller may see, newest first."""
    reply = gw.call(gw.scoring.ListRuns, scoring_pb2.ListRunsRequest(year=year, page_size=500), session.token)
    return sorted(reply.runs, key=lambda r: (r.year, r.created_at.seconds), reverse=True)


def run_document(gw: Gateway, session: Session, run: str, unit: str = "") -> dict[str, Any]:
    reply = gw.call(gw.scoring.GetRun, scoring_pb2.GetRunRequest(id=run, unit=unit), session.token)
    return _document(reply)


def _document(reply: Any) -> dict[str, Any]:
    """The result document of a GetRun reply (empty when its run carries none)."""
    return result_to_json_dict(reply.run.result) if reply.run.HasField("result") else {}


def standing_block(standing: Any) -> Markup:
    """The live standing of one unit: provisional total, colours, on-time rate, indicators."""
    indicators = [
        {
            "name": m.name or m.metric,
            "value": f"{m.value:.4g}" if m.has_value else "",
            "target": f"{m.target:.4g}"
            + ("（目标责任书）" if m.target_source == gateway_pb2.TARGET_SOURCE_TARGET_RECORD else ""),
            "status": label_of(METRIC_STATUSES, enum_code(gateway_pb2.IndicatorStatus.DESCRIPTOR, m.status)),
            "earned": m.earned,
            "max": m.max,
        }
        for m in standing.indicators
    ]
    charted = [
        {"metric": m.metric, "name": m.name, "value": m.value if m.has_value else None, "target": m.target}
        for m in standing.indicators
    ]
    grade = grade_label(standing.provisional_grade)
    # A year in progress and nothing of the unit due yet: no score to show, not a 0 (较差).
    total, small = (
        ("—", "尚无到期事项")
        if standing.nothing_due
        else (num(standing.provisional_total), f"排名 {standing.provisional_rank} · {grade}")
    )
    return fragment(
        "tasks/standing.html",
        unit=standing.unit,
        total=total,
        small=small,
        open_blue=standing.open_blue,
        open_yellow=standing.open_yellow,
        open_red=standing.open_red,
        on_time_rate=standing.on_time_rate,
        on_time=standing.reported_on_time,
        late=standing.reported_late,
        indicators=indicators,
        # Another group's chart, its HTML made there.
        chart=Markup(indicator_chart(charted)),
    )


def open_items_table(items: Any) -> Markup:
    """The unit's open tasks, the most urgent first, each with what being late would cost."""
    rows = [
        {
            "task": i.task,
            "href": task_path(i.task),
            "title": i.title,
            "state": label_of(TASK_STATES, enum_code(common_pb2.TaskState.DESCRIPTOR, i.state)),
            "color": enum_code(common_pb2.TaskColor.DESCRIPTOR, i.color),
            "due_at": utc_text(i, "due_at"),
            "hours_left": i.hours_left,
            "cost": i.cost_if_overdue,
        }
        for i in items
    ]
    return fragment("tasks/open_items.html", items=rows)


def home(console: Gateway, session: Session, request: Request) -> Response:
    """The department's one page: standing, open tasks, latest published result, history.

    The dashboard first (its open items move with the clock); the runs and the overdue trend are asked at
    once, kept under the dashboard's tag; then every year's shown run at once (the latest one's document
    serves both its explanation and its line in the history).
    """
    dashboard = console.call(
        console.gateway.GetDashboard, gateway_pb2.GetDashboardRequest(unit=session.unit), session.token
    )
    gw = console.under(dashboard.etag, role=session.role, unit=session.unit)
    pending_trend = start_trend(gw, session, unit=session.unit)
    pending_units = start_units(gw, session)  # a 乡镇's trend holds its 村's lines, set under it
    runs = runs_of(gw, session)
    shown = [r for r in runs if run_state(r) in SHOWN_STATES]
    latest: dict[int, Any] = {}
    for r in shown:
        latest.setdefault(r.year, r)
    pending_documents = {
        r.id: gw.start(
            gw.scoring.GetRun, scoring_pb2.GetRunRequest(id=r.id, unit=session.unit), session.token
        )
        for r in latest.values()
    }
    documents = {run_id: _document(p.result()) for run_id, p in pending_documents.items()}
    trend = trend_chart(pending_trend.result(), tree=unit_levels(pending_units.result()), request=request)
    return render(
        request,
        "tasks/department.html",
        title="本单位考核",
        charts=True,
        name=dashboard.standing.name or session.unit,
        standing=standing_block(dashboard.standing),
        # A 乡镇's own 村, each under it with its standing.
        below=[(b.name or b.unit, standing_block(b)) for b in dashboard.below],
        open_items=open_items_table(dashboard.open_items),
        # Another group's chart, its HTML made there.
        trend=Markup(trend),
        load=people.desk_load(gw, session),
        shown=bool(shown),
        result=result_section(session, shown[0], documents[shown[0].id]) if shown else Markup(),
        history=history_table(latest, documents),
    )


def result_section(session: Session, run: Any, document: dict[str, Any]) -> Markup:
    """The run's result for the unit, every point explained; while publicised, an appeal form per error."""
    units = document.get("units", [])
    if not units:
        return Markup()
    appealable = run_state(run) == "publicised"

    def appeal_form(error: dict[str, Any]) -> Markup:
        if not appealable:
            return Markup()
        return fragment("tasks/appeal_form.html", target=error["id"], csrf=session.csrf)

    return fragment(
        "tasks/result.html",
        year=run.year,
        state=run_state(run),
        deadline=run_time(run, "appeal_deadline") if appealable else "",
        run=run.id,
        # Another group's explanation, its HTML made there.
        explained=Markup(explained(units[0], appeal_form=appeal_form)),
    )


def history_table(latest: dict[int, Any], documents: dict[str, dict[str, Any]]) -> Markup:
    """One line per year: its latest published or final run, the unit's total, rank and grade in it."""
    years = []
    for year, r in sorted(latest.items(), reverse=True):
        units = documents.get(r.id, {}).get("units", [])
        if not units:
            continue
        u = units[0]
        years.append(
            {
                "year": year,
                "state": run_state(r),
                "unit": u["unit"],
                "total": u["total"],
                "rank": u["rank"],
                "grade": u["grade"],
                "run": r.id,
            }
        )
    return fragment("tasks/history.html", years=years)


def appeal(gw: Gateway, session: Session, request: Request) -> Response:
    """Files a 申诉 against one of the unit's error reports (the scoring service checks the window)."""
    target = form_of(request).get("error_report", "").strip()
    reason = form_of(request).get("reason", "").strip()
    if not target or not reason:
        return redirect("/unit", error="请填写申诉理由")
    fields = struct_pb2.Struct()
    fields.update(
        {
            "id": f"SS-{target}-{secrets.token_hex(3)}",
            "error_report": target,
            "date": datetime.now(ZONE).date().isoformat(),
            "reason": reason,
        }
    )
    gw.call(
        gw.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=secrets.token_hex(16), kind=scoring_pb2.RECORD_KIND_APPEAL, fields=fields
        ),
        session.token,
    )
    return redirect("/unit", ok=f"已提交对 {target} 的申诉，等待考核办裁决")


def export(gw: Gateway, session: Session, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.ExportRun,
        gateway_pb2.ExportRunRequest(run=request.query_params.get("run", "")),
        session.token,
    )
    return download(
        reply.xlsx, reply.filename, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
