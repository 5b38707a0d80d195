"""The office page's banner when a year has no holiday calendar (SCORING.md §1, kaohe calendar import)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from kaohe.tasks.v1 import tasks_pb2

from services.common.protoenum import enum_code
from services.common.scheme import DEFAULT_TIMEZONE
from services.web.gateway import Gateway, Pending
from services.web.layout import notice

COVERED = ("notice", "statutory")


def years_to_check(today: date) -> list[int]:
    """This year and, from 1 November (when the State Council's notice for it is due), the next."""
    return [today.year, today.year + 1] if today.month >= 11 else [today.year]


def start_calendar_check(
    gw: Gateway, session: Any, *, today: date | None = None
) -> list[tuple[int, Pending]]:
    """The calendar of each year to check, asked for at once (the page's other calls go out meanwhile)."""
    today = today or datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    return [
        (year, gw.start(gw.tasks.GetCalendar, tasks_pb2.GetCalendarRequest(year=year), session.token))
        for year in years_to_check(today)
    ]


def calendar_banner(pending: list[tuple[int, Pending]]) -> str:
    """A warning for each year that neither an imported notice nor the statutory calendar covers."""
    banners = []
    for year, call in pending:
        try:
            shown = call.result()
        except grpc.RpcError:
            # The page's own calls report a gateway that does not answer; the banner is an extra.
            continue
        if enum_code(tasks_pb2.CalendarSource.DESCRIPTOR, shown.source) not in COVERED:
            banners.append(
                notice(
                    f"{year} 年既没有导入国务院办公厅节假日安排通知，法定日历也没有该年数据，"
                    f"工作日暂按周一至周五计算；请用 kaohe calendar import 导入该年的通知。",
                    error=True,
                )
            )
    return "".join(banners)
