"""The office's desk: the county's overview, runs and their buttons, appeals, ranking and export (the accounts
page is services/web/accounts.py)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common import levels
from services.common.protoenum import enum_code
from services.common.scheme import DEFAULT_TIMEZONE
from services.common.wire_json import utc_text
from services.web import result_documents
from services.web.calendar_banner import calendar_banner, start_calendar_check
from services.web.confirm import confirm_first
from services.web.department import run_document, runs_of
from services.web.extensions import awaiting_section, start_awaiting
from services.web.gateway import Gateway
from services.web.layout import run_state, run_time, state_label
from services.web.replies import Refused, download, form_of, part, redirect
from services.web.results import distribution_chart, explained, result_tables
from services.web.templating import fragment, render
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


# The overview's bar chart draws this many units at most (those with most overdue, red and yellow tasks).
TOP_BARS = 15


def _overview_row(u: Any, reasons: dict[str, list[str]], depth: int) -> dict[str, Any]:
    """One unit's line of the overview; a 村 is set under its 乡镇."""
    met = sum(1 for m in u.indicators if m.status == gateway_pb2.INDICATOR_STATUS_MET)
    return {
        "heading": "",
        "unit": u,
        "depth": depth,
        "total": round(u.provisional_total, 2),
        "met": f"{met}/{len(u.indicators)}",
        "veto": "是：" + "；".join(reasons.get(u.unit, [])) if u.veto else "",
    }


def _most_to_do(units: list[Any]) -> list[Any]:
    """The units the bar chart draws: all of a few, else those with most overdue, red and yellow tasks."""
    if len(units) <= TOP_BARS:
        return units
    ranked = sorted(units, key=lambda u: (-u.overdue, -u.open_red, -u.open_yellow))
    return ranked[:TOP_BARS]


def overview(console: Gateway, session: Any, request: Request) -> Response:
    year = _year(request)
    period = trend_period(request)
    shown = console.call(
        console.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=year), session.token
    )
    # The page's content and its other reads are kept under the overview's tag: made again only when the data
    # (or the clock, in what it shows) has changed, for each role and unit, query and day.
    today = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    key = ("office/overview", shown.etag, session.role, session.unit, str(request.query_params), today)
    body = console.kept_page(key, lambda: _overview_body(console, session, request, shown, period, year))
    return render(request, "office/overview.html", title="全县态势", charts=True, body=body)


def _overview_body(
    console: Gateway, session: Any, request: Request, shown: Any, period: str, year: int
) -> Markup:
    gw = console.under(shown.etag, role=session.role, unit=session.unit)
    awaiting = start_awaiting(gw, session)
    pending_trend = start_trend(gw, session, year=year, period=period)
    pending_calendar = start_calendar_check(gw, session)
    reasons = _veto_reasons(gw, session, shown.year) if any(u.veto for u in shown.units) else {}
    rows: list[dict[str, Any]] = []
    tree = unit_tree(gw, session)  # unit → category, parent: the overview and the trend by level
    sections = levels.by_level(
        shown.units, parents_of(tree), unit_of=lambda u: u.unit, category_of=lambda u: u.category
    )
    for section, members in sections:
        if len(sections) > 1:
            rows.append({"heading": section})
        rows.extend(_overview_row(u, reasons, depth) for depth, u in members)
    bars = _most_to_do(list(shown.units))
    return fragment(
        "office/overview_body.html",
        calendar_banner=calendar_banner(pending_calendar),
        year=shown.year,
        as_of=utc_text(shown, "as_of"),
        scheme=shown.scheme,
        rows=rows,
        bars=bars,
        bars_drawn=len(bars),
        bars_total=len(shown.units),
        period=period,
        trend_switch=trend_switch(request, period),
        trend=trend_chart(pending_trend.result(), tree=tree, request=request),
        awaiting=awaiting_section(awaiting, {u.unit: u.name for u in shown.units}),  # rendered there
    )


def runs(gw: Gateway, session: Any, request: Request) -> Response:
    shown = []
    for r in runs_of(gw, session):
        state = run_state(r)
        move = {"draft": "publish", "publicised": "finalize"}.get(state, "")
        shown.append(
            {
                "id": r.id,
                "year": r.year,
                "state": state,
                "created_at": run_time(r, "created_at"),
                "appeal_deadline": run_time(r, "appeal_deadline"),
                "move": move,
                "move_label": MOVES[move][0] if move else "",
            }
        )
    return render(request, "office/runs.html", title="考核运行", runs=shown)


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
    return render(
        request,
        "office/run_detail.html",
        title=f"考核结果 {run}",
        charts=True,
        run=run,
        document=document,
        links=result_documents.links(run, document.get("state", "")),
        results=result_tables(document, link=f"/office/runs/{part(run)}/units/{{unit}}"),
        distribution=distribution_chart(document),
    )


def run_unit(gw: Gateway, session: Any, request: Request) -> Response:
    run, unit = request.path_params["run"], request.path_params["unit"]
    units = run_document(gw, session, run, unit).get("units", [])
    if not units:
        raise Refused(404, "这次考核没有这个单位")
    return render(
        request,
        "office/run_unit.html",
        title=f"{units[0]['name']} 得分明细",
        charts=True,
        run=run,
        letter_link=result_documents.letter_link(run, unit),
        explained=explained(units[0]),
        history=result_documents.unit_history(gw, session, unit),
    )


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
            return render(request, "office/ranking.html", title="排名", shown=None)
        run = latest[0].id
    shown = gw.call(gw.gateway.GetRanking, gateway_pb2.GetRankingRequest(run=run, year=year), session.token)
    state = enum_code(common_pb2.RunState.DESCRIPTOR, shown.state)
    return render(request, "office/ranking.html", title="排名", shown=shown, state=state)


def export(gw: Gateway, session: Any, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.ExportRun,
        gateway_pb2.ExportRunRequest(run=request.query_params.get("run", "")),
        session.token,
    )
    return download(reply.xlsx, reply.filename, XLSX)
