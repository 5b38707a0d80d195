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

from services.common.protoenum import enum_code
from services.common.result_wire import result_to_json_dict
from services.common.vocabulary import METRIC_STATUSES, TASK_STATES, label_of
from services.common.wire_json import utc_text
from services.web import people
from services.web.gateway import Gateway
from services.web.http import Request, Response, download, esc, page, part, redirect
from services.web.layout import (
    Raw,
    colour,
    csrf_field,
    frame,
    grade_label,
    hours_left,
    instant,
    notice,
    num,
    rate,
    row,
    run_state,
    run_time,
    state_label,
    table,
    unit_attrs,
)
from services.web.results import explained, indicator_chart
from services.web.sessions import Session
from services.web.supervision import task_path
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


def standing_block(standing: Any) -> str:
    """The live standing of one unit: provisional total, colours, on-time rate, indicators."""
    indicators = [
        {"metric": m.metric, "name": m.name, "value": m.value if m.has_value else None, "target": m.target}
        for m in standing.indicators
    ]
    rows = table(
        ["指标", "完成值", "目标", "状态", "得分", "满分"],
        [
            row(
                [
                    m.name or m.metric,
                    f"{m.value:.4g}" if m.has_value else "",
                    f"{m.target:.4g}"
                    + (
                        "（目标责任书）" if m.target_source == gateway_pb2.TARGET_SOURCE_TARGET_RECORD else ""
                    ),
                    label_of(METRIC_STATUSES, enum_code(gateway_pb2.IndicatorStatus.DESCRIPTOR, m.status)),
                    num(m.earned),
                    num(m.max),
                ],
                numeric=(1, 2, 4, 5),
            )
            for m in standing.indicators
        ],
        caption="指标完成情况",
        numeric=(1, 2, 4, 5),
    )
    open_count = standing.open_blue + standing.open_yellow + standing.open_red
    grade = grade_label(standing.provisional_grade)
    # A year in progress and nothing of the unit due yet: no score to show, not a 0 (较差).
    total, small = (
        ("—", "尚无到期事项")
        if standing.nothing_due
        else (num(standing.provisional_total), f"排名 {standing.provisional_rank} · {grade}")
    )
    return (
        f'<section class="cards" aria-label="实时态势"{unit_attrs(standing.unit)}>'
        f'<div class="card"><span>当前预估总分</span><strong>{esc(total)}</strong>'
        f"<small>{esc(small)}</small></div>"
        f'<div class="card"><span>在办事项</span><strong>{open_count}'
        f"</strong><small>{colour('blue')} {standing.open_blue} {colour('yellow')} {standing.open_yellow} "
        f"{colour('red')} {standing.open_red}</small></div>"
        f'<div class="card"><span>按时办结率</span><strong>{esc(rate(standing.on_time_rate))}</strong>'
        f"<small>按时 {standing.reported_on_time} · 逾期 {standing.reported_late}</small></div>"
        f"</section>{rows}{indicator_chart(indicators)}"
    )


def open_items_table(items: Any) -> str:
    return table(
        ["事项", "标题", "状态", "颜色", "应办结", "剩余时间", "逾期将失分"],
        [
            row(
                [
                    Raw(f'<a href="{esc(task_path(i.task))}">{esc(i.task)}</a>'),
                    i.title,
                    label_of(TASK_STATES, enum_code(common_pb2.TaskState.DESCRIPTOR, i.state)),
                    Raw(colour(enum_code(common_pb2.TaskColor.DESCRIPTOR, i.color))),
                    instant(utc_text(i, "due_at")),
                    hours_left(i.hours_left),
                    num(i.cost_if_overdue),
                ],
                numeric=(6,),
            )
            for i in items
        ],
        caption="在办事项（最急的在前）",
        numeric=(6,),
    )


def home(gw: Gateway, session: Session, request: Request) -> Response:
    """The department's one page: standing, open tasks, latest published result, history.

    The dashboard, the runs and the overdue trend are asked for at once; then every year's shown run at
    once (the latest one's document serves both its explanation and its line in the history).
    """
    pending_dashboard = gw.start(
        gw.gateway.GetDashboard, gateway_pb2.GetDashboardRequest(unit=session.unit), session.token
    )
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
    dashboard = pending_dashboard.result()
    documents = {run_id: _document(p.result()) for run_id, p in pending_documents.items()}
    parts = [
        notice(request.query.get("ok", "")),
        notice(request.query.get("error", ""), error=True),
        f"<h2>{esc(dashboard.standing.name or session.unit)} · 本年度实时态势</h2>",
        standing_block(dashboard.standing),
        *(f"<h3>└ {esc(b.name or b.unit)}（所辖村、社区）</h3>" + standing_block(b) for b in dashboard.below),
        open_items_table(dashboard.open_items),
        "<h2>逾期事项趋势</h2>"
        + trend_chart(pending_trend.result(), tree=unit_levels(pending_units.result()), request=request),
        people.desk_load(gw, session),
    ]
    if shown:
        parts.append(result_section(session, shown[0], documents[shown[0].id]))
    else:
        parts.append("<h2>考核结果</h2><p>还没有公示或定档的考核结果。</p>")
    parts.append("<h2>历年考核</h2>" + history_table(latest, documents))
    return page(frame("本单位考核", "".join(parts), session, charts=True))


def result_section(session: Session, run: Any, document: dict[str, Any]) -> str:
    units = document.get("units", [])
    if not units:
        return ""
    appealable = run_state(run) == "publicised"

    def appeal_form(error: dict[str, Any]) -> str:
        if not appealable:
            return ""
        target = esc(error["id"])
        return (
            f'<form method="post" action="/unit/appeal" class="appeal">{csrf_field(session)}'
            f'<input type="hidden" name="error_report" value="{target}">'
            f'<label for="reason-{target}">申诉理由</label>'
            f'<input id="reason-{target}" name="reason" required maxlength="500">'
            f'<button type="submit">提交申诉</button></form>'
        )

    deadline = run_time(run, "appeal_deadline")
    deadline = f"，申诉截止 {esc(instant(deadline))}" if appealable and deadline else ""
    return (
        f"<h2>{run.year} 年度考核结果（{esc(state_label(run_state(run)))}{deadline}）</h2>"
        f'<p><a class="button" href="/unit/export?run={esc(part(run.id))}">下载本单位结果（Excel）</a> '
        f'<a class="button" href="/unit/letter?run={esc(part(run.id))}">下载考核结果反馈（Word）</a></p>'
        + explained(units[0], appeal_form=appeal_form)
    )


def history_table(latest: dict[int, Any], documents: dict[str, dict[str, Any]]) -> str:
    """One line per year: its latest published or final run, the unit's total, rank and grade in it."""
    rows = []
    for year, r in sorted(latest.items(), reverse=True):
        units = documents.get(r.id, {}).get("units", [])
        if not units:
            continue
        u = units[0]
        rows.append(
            row(
                [
                    year,
                    state_label(run_state(r)),
                    Raw(f'<span class="total">{esc(num(u["total"]))}</span>'),
                    u["rank"],
                    grade_label(u["grade"]),
                    r.id,
                    Raw(f'<a href="/unit/export?run={esc(part(r.id))}">下载 Excel</a>'),
                ],
                attrs=unit_attrs(u["unit"], u["total"]),
                numeric=(2, 3),
            )
        )
    return table(["年度", "状态", "总分", "排名", "等次", "考核运行", ""], rows, numeric=(2, 3))


def appeal(gw: Gateway, session: Session, request: Request) -> Response:
    """Files a 申诉 against one of the unit's error reports (the scoring service checks the window)."""
    target = request.form.get("error_report", "").strip()
    reason = request.form.get("reason", "").strip()
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
        gw.gateway.ExportRun, gateway_pb2.ExportRunRequest(run=request.query.get("run", "")), session.token
    )
    return download(
        reply.xlsx, reply.filename, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
