"""延期: the extend rule of SCORING.md §2 and due instants as people write them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.errors import InvalidArgument, InvalidTransition
from services.tasks.domain import State, check_extend
from services.tasks.extensions import parse_due, people_time

ZONE = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 12, 10, 23, 59, 59, tzinfo=ZONE)


def test_an_open_task_is_extended_later_before_its_due() -> None:
    for state in (State.ASSIGNED, State.ACCEPTED):
        check_extend(state=state, due_in_force=DUE, new_due=DUE + timedelta(days=5), at=DUE)


@pytest.mark.parametrize(
    "state", [State.CREATED, State.REPORTED, State.VERIFIED, State.CLOSED, State.CANCELLED]
)
def test_only_an_open_assigned_task_is_extended(state: State) -> None:
    with pytest.raises(InvalidTransition, match="尚未反馈"):
        check_extend(
            state=state, due_in_force=DUE, new_due=DUE + timedelta(days=5), at=DUE - timedelta(days=1)
        )


def test_after_the_due_instant_in_force_is_too_late() -> None:
    with pytest.raises(InvalidTransition, match="之前办理"):
        check_extend(
            state=State.ACCEPTED,
            due_in_force=DUE,
            new_due=DUE + timedelta(days=5),
            at=DUE + timedelta(seconds=1),
        )


@pytest.mark.parametrize("new_due", [DUE, DUE - timedelta(hours=1)])
def test_the_new_due_is_later_than_the_one_in_force(new_due: datetime) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_extend(state=State.ACCEPTED, due_in_force=DUE, new_due=new_due, at=DUE - timedelta(days=1))
    assert refused.value.violations[0].field == "due_at"


def test_a_task_without_a_due_instant_is_not_extended() -> None:
    with pytest.raises(InvalidTransition, match="没有办结时限"):
        check_extend(state=State.ASSIGNED, due_in_force=None, new_due=DUE, at=DUE - timedelta(days=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-20", datetime(2026, 12, 20, 23, 59, 59, tzinfo=ZONE)),
        ("2026/12/20", datetime(2026, 12, 20, 23, 59, 59, tzinfo=ZONE)),
        ("2026年12月20日", datetime(2026, 12, 20, 23, 59, 59, tzinfo=ZONE)),
        ("2026-12-20 18:00", datetime(2026, 12, 20, 18, 0, tzinfo=ZONE)),
        ("2026年12月20日18时", datetime(2026, 12, 20, 18, 0, tzinfo=ZONE)),
        ("2026年12月20日 18时30分", datetime(2026, 12, 20, 18, 30, tzinfo=ZONE)),
        ("2026-12-20T18:00", datetime(2026, 12, 20, 18, 0, tzinfo=ZONE)),
        ("2026-12-20T10:00:00+00:00", datetime(2026, 12, 20, 18, 0, tzinfo=ZONE)),
    ],
)
def test_due_instants_as_people_write_them(text: str, expected: datetime) -> None:
    assert parse_due(text, tz=ZONE) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "请填写"), ("下周五", "不是可识别"), ("2026-02-30", "不是有效"), ("1900-01-01", "年之间")],
)
def test_a_due_nobody_can_read_is_refused_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_due(text, tz=ZONE)
    assert refused.value.violations[0].field == "due_at" and words in refused.value.violations[0].description


def test_people_time_is_minutes_in_the_zone() -> None:
    assert people_time(int(DUE.timestamp()), ZONE) == "2026-12-10 23:59" and people_time(None, ZONE) == ""
