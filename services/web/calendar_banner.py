"""The office page's banner when a year has no holiday calendar (SCORING.md §1, kaohe calendar import)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup

from services.common.protoenum import enum_code
from services.common.scheme import DEFAULT_TIMEZONE
from services.web.gateway import Gateway, Pending
from services.web.templating import fragment

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


def calendar_banner(pending: list[tuple[int, Pending]]) -> Markup:
    """A warning for each year that neither an imported notice nor the statutory calendar covers."""
    uncovered = []
    for year, call in pending:
        try:
            shown = call.result()
        except grpc.RpcError:
            # The page's own calls report a gateway that does not answer; the banner is an extra.
            continue
        if enum_code(tasks_pb2.CalendarSource.DESCRIPTOR, shown.source) not in COVERED:
            uncovered.append(year)
    return fragment("office/calendar_banner.html", years=uncovered) if uncovered else Markup("")
