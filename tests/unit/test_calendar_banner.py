"""The office page's banner for a year without a holiday calendar."""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc
from kaohe.tasks.v1 import tasks_pb2

from services.web.calendar_banner import calendar_banner, years_to_check

Calendar = tasks_pb2.GetCalendarResponse


class Answered:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def result(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Unreachable(grpc.RpcError):
    pass


def test_next_year_is_checked_from_the_first_of_november() -> None:
    assert years_to_check(date(2026, 10, 31)) == [2026]
    assert years_to_check(date(2026, 11, 1)) == [2026, 2027]


def test_a_year_without_notice_or_statutory_data_is_named() -> None:
    pending: list[tuple[int, Any]] = [
        (
            2026,
            Answered(Calendar(year=2026, source=tasks_pb2.CALENDAR_SOURCE_STATUTORY)),
        ),
        (2027, Answered(Calendar(year=2027, source=tasks_pb2.CALENDAR_SOURCE_WEEKDAYS))),
    ]
    banner = calendar_banner(pending)
    assert "2027 年既没有导入国务院办公厅节假日安排通知" in banner and "2026" not in banner
    assert 'role="alert"' in banner


def test_a_covered_year_or_an_unanswered_call_shows_nothing() -> None:
    pending: list[tuple[int, Any]] = [
        (2027, Answered(Calendar(year=2027, source=tasks_pb2.CALENDAR_SOURCE_NOTICE))),
        (2028, Answered(Unreachable())),
    ]
    assert calendar_banner(pending) == ""
