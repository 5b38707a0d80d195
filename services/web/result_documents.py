"""结果运用 in the console: a publicised or final run's notice, letters and 优秀 list, downloaded."""

from __future__ import annotations

from typing import Any

from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.web.gateway import Gateway
from services.web.layout import esc, run_state
from services.web.replies import Refused, download
from services.web.sessions import Session

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CSV = "text/csv; charset=utf-8"
# A draft is no result yet: what is circulated is a publicised (公示) or final (定档) run.
ISSUED = frozenset({"publicised", "final"})


def _issued(gw: Gateway, session: Session, run: str) -> None:
    reply = gw.call(
        gw.scoring.GetRun, scoring_pb2.GetRunRequest(id=run, omit_breakdown=True), session.token
    ).run
    if run_state(reply) not in ISSUED:
        raise Refused(409, "考核结果公示或定档后才能下载通报、反馈和优秀名单")


def links(run: str, state: str) -> str:
    """The run page's download links, for a publicised or final run."""
    if state not in ISSUED:
        return "<p>公示或定档后可下载考核结果通报、各单位反馈和优秀单位名单。</p>"
    base = f"/office/runs/{esc(run)}"
    return (
        f'<p><a class="button" href="{base}/notice">下载考核结果通报（Word）</a> '
        f'<a class="button" href="{base}/excellent">下载优秀单位名单（CSV）</a></p>'
    )


def letter_link(run: str, unit: str) -> str:
    return f'<a href="/office/runs/{esc(run)}/letters/{esc(unit)}">反馈（Word）</a>'


def notice(gw: Gateway, session: Session, request: Request) -> Response:
    run = request.path_params["run"]
    _issued(gw, session, run)
    reply = gw.call(gw.gateway.GetResultNotice, gateway_pb2.GetResultNoticeRequest(run=run), session.token)
    return download(reply.content, reply.filename, DOCX)


def excellent(gw: Gateway, session: Session, request: Request) -> Response:
    run = request.path_params["run"]
    _issued(gw, session, run)
    reply = gw.call(gw.gateway.GetExcellentList, gateway_pb2.GetExcellentListRequest(run=run), session.token)
    return download(reply.content, reply.filename, CSV)


def letter(gw: Gateway, session: Session, request: Request) -> Response:
    run, unit = request.path_params["run"], request.path_params["unit"]
    _issued(gw, session, run)
    request_ = gateway_pb2.GetResultLetterRequest(run=run, unit=unit)
    reply = gw.call(gw.gateway.GetResultLetter, request_, session.token)
    return download(reply.content, reply.filename, DOCX)


def own_letter(gw: Gateway, session: Session, request: Request) -> Response:
    """A department's own 反馈 of a run (the gateway shows it only once publicised)."""
    run = request.query_params.get("run", "")
    if not run:
        raise Refused(400, "缺少运行编号")
    request_ = gateway_pb2.GetResultLetterRequest(run=run, unit=session.unit)
    reply = gw.call(gw.gateway.GetResultLetter, request_, session.token)
    return download(reply.content, reply.filename, DOCX)


def unit_history(gw: Gateway, session: Session, unit: str) -> str:
    """A unit's result across the years: each year's latest publicised or final run (the office's view)."""
    from services.web.department import SHOWN_STATES, history_table, run_document, runs_of

    latest: dict[int, Any] = {}
    for r in runs_of(gw, session):
        if run_state(r) in SHOWN_STATES:
            latest.setdefault(r.year, r)
    documents = {r.id: run_document(gw, session, r.id, unit) for r in latest.values()}
    return "<h2>历年考核结果</h2>" + history_table(latest, documents)
