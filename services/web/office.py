"""The office's desk: the county's overview, runs and their buttons, appeals, ranking and export (the accounts
page is services/web/accounts.py)."""

from __future__ import annotations

import secrets
from typing import Any

from google.protobuf import json_format
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common import levels
from services.common.protoenum import enum_code
from services.common.wire_json import utc_text
from services.web import result_documents
from services.web.calendar_banner import calendar_banner, start_calendar_check
from services.web.confirm import confirm_first
from services.web.department import run_document, runs_of
from services.web.extensions import awaiting_section, start_awaiting
from services.web.gateway import Gateway
from services.web.layout import (
    Raw,
    button_form,
    category_label,
    chart,
    csrf_field,
    esc,
    flash,
    frame,
    grade_label,
    instant,
    num,
    rate,
    row,
    run_state,
    run_time,
    state_label,
    table,
    unit_attrs,
)
from services.web.replies import Refused, download, form_of, page, part, redirect
from services.web.results import distribution_chart, explained, result_tables
from services.web.trend import parents_of, start_trend, trend_chart, trend_period, trend_switch, unit_tree

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MOVES = {
    "publish": ("公示", "结果向各单位公开，申诉期随即开始；公示后不能退回草稿。"),
    "finalize": ("定档", "结果成为本年度的最终结果，此后不能再申诉、裁决或重算。"),
}


def _year(request: Request) -> int:
    text = request.query_params.get("year", "")
    if not text:
        return 0
    if not text.isdigit():
        raise Refused(400, "年度应为四位数字")
    return int(text)


def _veto_reasons(gw: Gateway, session: Any, year: int) -> dict[str, list[str]]:
    """Each unit's accountability reasons, shown next to a veto (the overview carries the flag only)."""
    reply = gw.call(
        gw.scoring.ListRecords,
        scoring_pb2.ListRecordsRequest(
            kind=scoring_pb2.RECORD_KIND_ACCOUNTABILITY, year=year, page_size=5000
        ),
        session.token,
    )
    reasons: dict[str, list[str]] = {}
    for record in reply.records:
        fields = json_format.MessageToDict(record.fields)
        reasons.setdefault(record.unit, []).append(str(fields.get("reason", "")))
    return reasons


def _overview_row(u: Any, reasons: dict[str, list[str]], depth: int) -> str:
    """One unit's line of the overview; a 村 is set under its 乡镇."""
    met = sum(1 for m in u.indicators if m.status == gateway_pb2.INDICATOR_STATUS_MET)
    veto = "是：" + "；".join(reasons.get(u.unit, [])) if u.veto else ""
    return row(
        [
            ("　└ " if depth else "") + u.name,
            category_label(u.category),
            u.open_blue,
            u.open_yellow,
            u.open_red,
            u.overdue,
            rate(u.on_time_rate),
            f"{met}/{len(u.indicators)}",
            # A year in progress and nothing of the unit due yet: no score, not a 0 (较差).
            "—" if u.nothing_due else Raw(f'<span class="total">{esc(num(u.provisional_total))}</span>'),
            "—" if u.nothing_due else grade_label(u.provisional_grade),
            veto,
        ],
        attrs=unit_attrs(u.unit, round(u.provisional_total, 2)),
        numeric=(2, 3, 4, 5, 8),
    )


def overview(gw: Gateway, session: Any, request: Request) -> Response:
    year = _year(request)
    awaiting = start_awaiting(gw, session)  # at once with the overview too
    period = trend_period(request)
    pending_trend = start_trend(gw, session, year=year, period=period)  # at once with the overview
    pending_calendar = start_calendar_check(gw, session)
    shown = gw.call(gw.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=year), session.token)
    reasons = _veto_reasons(gw, session, shown.year) if any(u.veto for u in shown.units) else {}
    rows = []
    tree = unit_tree(gw, session)  # unit → category, parent: the overview and the trend by level
    sections = levels.by_level(
        shown.units, parents_of(tree), unit_of=lambda u: u.unit, category_of=lambda u: u.category
    )
    for section, members in sections:
        if len(sections) > 1:
            rows.append(f'<tr class="level"><th colspan="11" scope="rowgroup">{esc(section)}</th></tr>')
        for depth, u in members:
            rows.append(_overview_row(u, reasons, depth))
    headers = [
        "单位",
        "类别",
        "蓝",
        "黄",
        "红",
        "逾期",
        "按时率",
        "指标达标",
        "预估总分",
        "预估等次",
        "一票否决",
    ]
    overdue = chart(
        "bars",
        {
            "names": [u.name for u in shown.units],
            "series": {
                "逾期": [u.overdue for u in shown.units],
                "红": [u.open_red for u in shown.units],
                "黄": [u.open_yellow for u in shown.units],
            },
            # 逾期 counts tasks that are also red: its own bar, not stacked on them.
            "stacks": {"红": "open", "黄": "open"},
        },
        label="各单位逾期与红黄事项数",
    )
    body = (
        f"{flash(request)}{calendar_banner(pending_calendar)}"
        f"<p>{shown.year} 年度，截至 {esc(instant(utc_text(shown, 'as_of')))}，方案 {esc(shown.scheme)}。</p>"
        f'<form method="get" class="inline"><label for="year">年度</label>'
        f'<input id="year" name="year" inputmode="numeric" size="6" value="{shown.year}">'
        f"<button type=submit>查看</button></form>"
        + table(headers, rows, numeric=(2, 3, 4, 5, 8), caption="各单位实时态势")
        + "<h2>逾期与红黄事项</h2>"
        + overdue
        + f"<h2>逾期事项趋势（{'每周末' if period == 'week' else '每月末'}）</h2>"
        + trend_switch(request, period)
        + trend_chart(pending_trend.result(), tree=tree, request=request)
        + str(awaiting_section(awaiting))  # Markup would escape the str before it
    )
    return page(frame("全县态势", body, session, charts=True))


def runs(gw: Gateway, session: Any, request: Request) -> Response:
    rows = []
    for r in runs_of(gw, session):
        actions = ""
        state = run_state(r)
        if state == "draft":
            actions = button_form(f"/office/runs/{part(r.id)}/publish", "公示", session)
        elif state == "publicised":
            actions = button_form(f"/office/runs/{part(r.id)}/finalize", "定档", session)
        rows.append(
            row(
                [
                    r.year,
                    Raw(f'<a href="/office/runs/{esc(part(r.id))}">{esc(r.id)}</a>'),
                    Raw(f'<span class="state" data-state="{esc(state)}">{esc(state_label(state))}</span>'),
                    instant(run_time(r, "created_at")),
                    instant(run_time(r, "appeal_deadline")),
                    Raw(actions + f' <a href="/office/export?run={esc(part(r.id))}">导出 Excel</a>'),
                ],
                attrs=f' data-run="{esc(r.id)}"',
            )
        )
    create = (
        f'<form method="post" action="/office/runs" class="inline">{csrf_field(session)}'
        '<label for="run-year">年度</label>'
        '<input id="run-year" name="year" inputmode="numeric" size="6" required>'
        "<button type=submit>计算一次考核（草稿）</button></form>"
    )
    body = (
        flash(request)
        + "<p>考核运行：草稿 → 公示（申诉期） → 定档。</p>"
        + create
        + table(["年度", "考核运行", "状态", "计算时间", "申诉截止", "操作"], rows)
    )
    return page(frame("考核运行", body, session))


def create_run(gw: Gateway, session: Any, request: Request) -> Response:
    text = form_of(request).get("year", "").strip()
    if not text.isdigit():
        return redirect("/office/runs", error="年度应为四位数字")
    run = gw.call(
        gw.scoring.CreateRun,
        scoring_pb2.CreateRunRequest(request_id=secrets.token_hex(16), year=int(text)),
        session.token,
        timeout=600,
    ).run
    return redirect("/office/runs", ok=f"已计算 {run.id}（草稿）")


def move_run(gw: Gateway, session: Any, request: Request) -> Response:
    """公示 or 定档 by the buttons; a refusal comes back as the page's error line."""
    run, action = request.path_params["run"], request.path_params["action"]
    moves: dict[str, tuple[Any, Any]] = {
        "publish": (gw.scoring.PublishRun, scoring_pb2.PublishRunRequest),
        "finalize": (gw.scoring.FinalizeRun, scoring_pb2.FinalizeRunRequest),
    }
    if action not in moves:
        raise Refused(404, "没有这个操作")
    label, consequence = MOVES[action]
    asked = confirm_first(
        request,
        session,
        title=f"确认{label}",
        consequence=f"{label}考核运行 {run}：{consequence}",
        button=f"确认{label}",
        back="/office/runs",
    )
    if asked is not None:
        return asked
    method, request_class = moves[action]
    moved = gw.call(method, request_class(request_id=secrets.token_hex(16), id=run), session.token).run
    return redirect("/office/runs", ok=f"{moved.id}：{state_label(run_state(moved))}")


def run_detail(gw: Gateway, session: Any, request: Request) -> Response:
    run = request.path_params["run"]
    document = run_document(gw, session, run)
    body = (
        f"<p>{esc(document.get('year'))} 年度 · {esc(state_label(document.get('state', '')))} · "
        f"截至 {esc(instant(document.get('as_of')))} · 方案 {esc(document.get('scheme'))}</p>"
        f'<p><a class="button" href="/office/export?run={esc(part(run))}">导出 Excel</a></p>'
        + result_documents.links(run, document.get("state", ""))
        + result_tables(document, link=f"/office/runs/{part(run)}/units/{{unit}}")
        + "<h2>各类别总分分布</h2>"
        + distribution_chart(document)
    )
    return page(frame(f"考核结果 {run}", body, session, charts=True))


def run_unit(gw: Gateway, session: Any, request: Request) -> Response:
    run, unit = request.path_params["run"], request.path_params["unit"]
    units = run_document(gw, session, run, unit).get("units", [])
    if not units:
        raise Refused(404, "这次考核没有这个单位")
    body = (
        f'<p><a href="/office/runs/{esc(part(run))}">返回 {esc(run)}</a> · '
        f"{result_documents.letter_link(run, unit)}</p>"
        + explained(units[0])
        + result_documents.unit_history(gw, session, unit)
    )
    return page(frame(f"{units[0]['name']} 得分明细", body, session, charts=True))


def decide(gw: Gateway, session: Any, request: Request) -> Response:
    appeal = request.path_params["appeal"]
    reason = form_of(request).get("reason", "").strip()
    if not reason:
        return redirect("/office/appeals", error="请填写裁决理由")
    gw.call(
        gw.scoring.DecideAppeal,
        scoring_pb2.DecideAppealRequest(
            request_id=secrets.token_hex(16),
            id=appeal,
            upheld=form_of(request).get("upheld") == "yes",
            reason=reason,
        ),
        session.token,
    )
    return redirect("/office/appeals", ok=f"已裁决申诉 {appeal}")


def ranking(gw: Gateway, session: Any, request: Request) -> Response:
    """A run's ranking; from the menu (no run, no year) the latest run's."""
    run, year = request.query_params.get("run", ""), _year(request)
    if not run and not year:
        latest = runs_of(gw, session)
        if not latest:
            body = '<p>还没有考核运行。请先在<a href="/office/runs">考核运行</a>中计算一次。</p>'
            return page(frame("排名", body, session))
        run = latest[0].id
    shown = gw.call(gw.gateway.GetRanking, gateway_pb2.GetRankingRequest(run=run, year=year), session.token)
    state = enum_code(common_pb2.RunState.DESCRIPTOR, shown.state)
    parts = [f"<p>{shown.year} 年度 · 考核运行 {esc(shown.run)} · {esc(state_label(state))}</p>"]
    for category in shown.categories:
        parts.append(f"<h2>{esc(category_label(category.category))}</h2>")
        parts.append(
            table(
                ["排名", "单位", "总分", "等次", "一票否决"],
                [
                    row(
                        [r.rank, r.name, num(r.total), grade_label(r.grade), "是" if r.veto else ""],
                        attrs=unit_attrs(r.unit, r.total),
                        numeric=(0, 2),
                    )
                    for r in category.rows
                ],
            )
        )
    return page(frame("排名", "".join(parts), session))


def export(gw: Gateway, session: Any, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.ExportRun,
        gateway_pb2.ExportRunRequest(run=request.query_params.get("run", "")),
        session.token,
    )
    return download(reply.xlsx, reply.filename, XLSX)
