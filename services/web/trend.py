"""The overdue trend on the console: each unit's overdue open tasks at each month-end, as a line chart."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from kaohe.tasks.v1 import tasks_pb2

from services.common.wire_text import as_text
from services.web.edge import typed_code
from services.web.gateway import Gateway, Pending
from services.web.http import Request, esc
from services.web.layout import LOCAL, chart, row, table, unit_attrs
from services.web.sessions import Session


def start_trend(gw: Gateway, session: Session, *, year: int = 0, unit: str = "", period: str = "") -> Pending:
    """The trend asked for now, read later (a page's other calls go out meanwhile)."""
    return gw.start(
        gw.tasks.GetOverdueTrend,
        tasks_pb2.GetOverdueTrendRequest(
            year=year, unit=unit, period=typed_code(tasks_pb2.TrendPeriod.DESCRIPTOR, period, "period")
        ),
        session.token,
    )


def point_label(instant: str) -> str:
    """A point as people read it: the date whose end it is ("1月31日"); the year so far, its own date."""
    moment = datetime.fromisoformat(instant)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        moment -= timedelta(seconds=1)
    return f"{moment.month}月{moment.day}日"


def trend_chart(trend: tasks_pb2.GetOverdueTrendResponse) -> str:
    """One line per unit (a department's page holds its own only); the points' labels below."""
    reply = as_text(trend, LOCAL)
    ends = "每周末" if reply.period == "week" else "每月末"
    if not reply.points:
        return f"<p>本年度还没有可统计的时点（{ends}）。</p>"
    names = [point_label(p) for p in reply.points]
    lines = [{"unit": s.unit, "name": s.name or s.unit, "values": list(s.overdue)} for s in reply.units]
    label = f"{'各单位' if len(reply.units) != 1 else '本单位'}逾期事项数（{ends}）"
    numeric = tuple(range(1, len(names) + 1))
    rows = [
        row([s.name or s.unit, *s.overdue], attrs=unit_attrs(s.unit), numeric=numeric) for s in reply.units
    ]
    return (
        chart("trend", {"names": names, "lines": lines}, label=label)
        + '<details class="trend"><summary>逾期趋势数据表</summary>'
        + table(["单位", *names], rows, numeric=numeric, caption=label)
        + "</details>"
    )


def trend_period(request: Request) -> str:
    """The trend's period a page was asked for: `?trend=week` for week-ends, else month-ends."""
    return "week" if request.query.get("trend") == "week" else "month"


def trend_switch(request: Request, period: str) -> str:
    """A link to the same page with the trend by the other period (the year kept)."""
    other = "month" if period == "week" else "week"
    query = {k: v for k, v in request.query.items() if k != "trend"} | {"trend": other}
    label = "按月末查看" if other == "month" else "按周末查看"
    return f'<p><a href="{esc(request.path)}?{esc(urlencode(query))}">{label}</a></p>'
