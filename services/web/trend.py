"""The overdue trend on the console: each unit's overdue open tasks at each month-end, as a line chart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kaohe.tasks.v1 import tasks_pb2

from services.web.gateway import Gateway, Pending
from services.web.layout import chart, row, table, unit_attrs
from services.web.sessions import Session


def start_trend(gw: Gateway, session: Session, *, year: int = 0, unit: str = "", period: str = "") -> Pending:
    """The trend asked for now, read later (a page's other calls go out meanwhile)."""
    return gw.start(
        gw.tasks.GetOverdueTrend,
        tasks_pb2.GetOverdueTrendRequest(year=year, unit=unit, period=period),
        session.token,
    )


def point_label(instant: str) -> str:
    """A point as people read it: the date whose end it is ("1月31日"); the year so far, its own date."""
    moment = datetime.fromisoformat(instant)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        moment -= timedelta(seconds=1)
    return f"{moment.month}月{moment.day}日"


def trend_chart(reply: Any) -> str:
    """One line per unit (a department's page holds its own only); the points' labels below."""
    if not reply.points:
        return "<p>本年度还没有可统计的月末。</p>"
    names = [point_label(p) for p in reply.points]
    lines = [{"unit": s.unit, "name": s.name or s.unit, "values": list(s.overdue)} for s in reply.units]
    label = "各单位逾期事项数（每月末）" if len(reply.units) != 1 else "本单位逾期事项数（每月末）"
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
