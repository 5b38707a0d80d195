"""The supervision bulletin (督查通报) from the browser: choose the period, download the Word document."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from kaohe.gateway.v1 import gateway_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.web.gateway import Gateway
from services.web.replies import download
from services.web.sessions import Session
from services.web.templating import render

ZONE = ZoneInfo("Asia/Shanghai")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
QUARTERS = ("一", "二", "三", "四")


def periods(today: datetime) -> list[tuple[str, str]]:
    """The periods an office circulates a bulletin for, newest first: months, quarters, and the years."""
    year = today.year
    options = [(f"{year}-{m:02d}", f"{year}年{m}月") for m in range(today.month, 0, -1)]
    options += [
        (f"{year}-Q{q}", f"{year}年第{QUARTERS[q - 1]}季度") for q in range((today.month + 2) // 3, 0, -1)
    ]
    options += [(str(year), f"{year}年全年"), (str(year - 1), f"{year - 1}年全年")]
    options += [(f"{year - 1}-Q{q}", f"{year - 1}年第{QUARTERS[q - 1]}季度") for q in range(4, 0, -1)]
    return options


def bulletin_form(gw: Gateway, session: Session, request: Request) -> Response:
    return render(request, "office/bulletin.html", title="督查通报", periods=periods(datetime.now(ZONE)))


def bulletin_download(gw: Gateway, session: Session, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.GetBulletin,
        gateway_pb2.GetBulletinRequest(period=request.query_params.get("period", "")),
        session.token,
    )
    return download(reply.docx, reply.filename, DOCX)
