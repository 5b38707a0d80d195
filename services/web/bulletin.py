"""The supervision bulletin (督查通报) from the browser: choose the period, download the Word document."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from kaohe.gateway.v1 import gateway_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.web.gateway import Gateway
from services.web.layout import esc, frame, notice
from services.web.replies import download, page
from services.web.sessions import Session

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
    choices = "".join(
        f'<option value="{esc(code)}">{esc(label)}</option>' for code, label in periods(datetime.now(ZONE))
    )
    body = (
        notice(request.query_params.get("error", ""), error=True)
        + "<p>督查通报按公文格式（GB/T 9704）生成 Word 文档：本期各单位到期、按时、逾期和仍在逾期的事项，"
        "有红灯事项的单位排在前面，每一项逾期事项，本期的差错通报和问责，以及表彰。</p>"
        '<form method="get" action="/office/bulletin/download" class="stack">'
        f'<label for="period">期间</label><select id="period" name="period">{choices}</select>'
        '<button type="submit">生成并下载通报</button></form>'
    )
    return page(frame("督查通报", body, session))


def bulletin_download(gw: Gateway, session: Session, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.GetBulletin,
        gateway_pb2.GetBulletinRequest(period=request.query_params.get("period", "")),
        session.token,
    )
    return download(reply.docx, reply.filename, DOCX)
