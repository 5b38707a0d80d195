"""结果运用 in the console: a publicised or final run's notice, letters and 优秀 list, downloaded."""

from __future__ import annotations

from typing import Any

from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.web.gateway import Gateway
from services.web.layout import run_state
from services.web.replies import Refused, download
from services.web.sessions import Session
from services.web.templating import fragment

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


def links(run: str, state: str) -> Markup:
    """The run page's download links, for a publicised or final run."""
    return fragment("office/result_links.html", run=run, issued=state in ISSUED)


def letter_link(run: str, unit: str) -> Markup:
    return fragment("office/letter_link.html", run=run, unit=unit)


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


def unit_history(gw: Gateway, session: Session, unit: str) -> Markup:
    """A unit's result across the years: each year's latest publicised or final run (the office's view)."""
    from services.web.department import SHOWN_STATES, history_table, run_document, runs_of

    latest: dict[int, Any] = {}
    for r in runs_of(gw, session):
        if run_state(r) in SHOWN_STATES:
            latest.setdefault(r.year, r)
    documents = {r.id: run_document(gw, session, r.id, unit) for r in latest.values()}
    # The table is the department page's, made there (escaped there).
    return fragment("office/history.html", table=Markup(history_table(latest, documents)))
