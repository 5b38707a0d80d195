"""The working-day calendar: `kaohe calendar import` (国务院节假日通知) and `kaohe calendar show`."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from google.type.date_pb2 import Date
from kaohe.tasks.v1 import tasks_pb2

from services.cli.client import EXIT_OK, Client, Refused, emit, request_id
from services.cli.options import Commands, command, group
from services.common.holiday_notice import written_date
from services.common.protoenum import enum_code
from services.common.wiretime import date_of

SOURCES = {
    "notice": "国务院办公厅节假日安排通知（已导入）",
    "statutory": "法定节假日日历（chinesecalendar）",
    "scheme": "考核方案所列的节假日和调休上班日，其余按周一至周五",
    "weekdays": "无通知、无法定日历数据：按周一至周五",
}


def _dates(iso_dates: list[str]) -> str:
    return "、".join(written_date(date.fromisoformat(d)) for d in iso_dates) or "无"


def _iso(days: Iterable[Date]) -> list[str]:
    """google.type.Date values as the ISO dates the JSON output writes."""
    return [day.isoformat() for day in map(date_of, days) if day is not None]


def cmd_calendar_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        # utf-8-sig: a notice saved by Notepad starts with a BOM.
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise Refused(f"无法读取 {path}：{exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise Refused(f"{path} 不是 UTF-8 文本（第 {exc.start} 字节）") from None
    client = Client(args)
    reply = client.call(
        client.tasks.ImportHolidayNotice,
        tasks_pb2.ImportHolidayNoticeRequest(text=text, year=args.year or 0, request_id=request_id()),
    )
    holidays, workdays = _iso(reply.holidays), _iso(reply.workdays)
    document = {
        "year": reply.year,
        "holidays": holidays,
        "workdays": workdays,
        "replaced": reply.replaced,
        "unchanged": reply.unchanged,
        "moved": reply.moved,
    }

    def text_view() -> str:
        if reply.unchanged:
            done = f"{reply.year} 年的节假日通知与已导入的相同，未作改动。"
        else:
            replaced = "（替换了此前导入的一份）" if reply.replaced else ""
            done = f"已导入 {reply.year} 年的节假日通知{replaced}。"
        lines = [
            done,
            f"放假（{len(holidays)} 天）：{_dates(holidays)}",
            f"调休上班（{len(workdays)} 天）：{_dates(workdays)}",
        ]
        if reply.moved:
            lines.append(f"按此调整了 {reply.moved} 项未办结任务的办理期限（见各任务的办理记录）。")
        return "\n".join(lines)

    emit(args, document, text_view)
    return EXIT_OK


def cmd_calendar_show(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.tasks.GetCalendar, tasks_pb2.GetCalendarRequest(year=args.year))
    source = enum_code(tasks_pb2.CalendarSource.DESCRIPTOR, reply.source)
    holidays, workdays = _iso(reply.holidays), _iso(reply.workdays)
    document = {"year": reply.year, "source": source, "holidays": holidays, "workdays": workdays}

    def text_view() -> str:
        lines = [
            f"{reply.year} 年工作日历，依据：{SOURCES.get(source, source)}",
            f"放假（{len(holidays)} 天）：{_dates(holidays)}",
            f"周末调休上班（{len(workdays)} 天）：{_dates(workdays)}",
        ]
        if source in ("weekdays", "scheme"):
            title = f"国务院办公厅关于{reply.year}年部分节假日安排的通知"
            lines.append(f"请用 kaohe calendar import 导入《{title}》。")
        return "\n".join(lines)

    emit(args, document, text_view)
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """calendar import, calendar show."""
    calendar = group(commands, "calendar", "工作日历：导入国务院节假日安排通知，查看某年的工作日历")
    p = command(
        calendar,
        "import",
        "导入国务院办公厅关于某年部分节假日安排的通知（纯文本，UTF-8）；同一年已导入的被替换",
        common=common,
    )
    p.add_argument("file", metavar="FILE", help="通知全文的文本文件")
    p.add_argument("--year", type=int, help="通知安排的年份（默认从标题读出）")
    p.set_defaults(func=cmd_calendar_import)
    summary = "查看某年的工作日历及其依据（通知、法定日历、考核方案或周一至周五）"
    p = command(calendar, "show", summary, common=common)
    p.add_argument("--year", type=int, required=True, help="年份")
    p.set_defaults(func=cmd_calendar_show)
