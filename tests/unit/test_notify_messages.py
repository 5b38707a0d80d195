"""Unit tests of the reminder bodies: the json contract's keys, the robots' shapes, the Chinese text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.config import Channel
from services.notify.delivery import Outcome
from services.notify.messages import history_note, render, sentence, span, time_left
from services.notify.planner import Delivery, TaskFact

SH = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
ASSIGNED = datetime(2026, 11, 1, 9, tzinfo=SH)
PROGRESS = datetime(2026, 11, 15, 23, 59, 59, tzinfo=SH)
NAMES = {"fgj": "发改局", "xz1": "城关镇"}
BEFORE = DUE - timedelta(days=1, hours=2, minutes=30)
AFTER = DUE + timedelta(days=3, hours=5, minutes=1)


def delivery(
    event: str = "yellow",
    fmt: str = "json",
    unit: str = "fgj",
    *,
    occurrence: int = 1,
    told: int = 0,
    escalate: bool = False,
    responsible: tuple[str, str] = ("", ""),
) -> Delivery:
    fact = TaskFact(
        task="T7",
        title="推进县城污水管网改造",
        lead_unit="fgj",
        co_units=("xz1",),
        event=event,
        due_at=DUE,
        assigned_at=ASSIGNED,
        progress_due_at=PROGRESS if event == "progress_due" else None,
        responsible_name=responsible[0],
        responsible_mobile=responsible[1],
    )
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"
    ch = Channel(
        url=url, format=fmt, units=("*",), events=("yellow", "red", "progress_due"), escalate=escalate
    )
    return Delivery(fact=fact, unit=unit, channel_index=0, channel=ch, occurrence=occurrence, told=told)


def test_json_body_has_exactly_the_contract_keys() -> None:
    body = render(delivery("red"), unit_names=NAMES, now=AFTER)
    assert list(body) == ["task", "title", "unit", "event", "due_at", "occurrence", "text"]
    assert body["occurrence"] == 1
    assert body["task"] == "T7"
    assert body["title"] == "推进县城污水管网改造"
    assert body["unit"] == "fgj"
    assert body["event"] == "red"
    assert body["due_at"] == "2026-11-30T23:59:59+08:00"
    json.dumps(body)


def test_json_due_at_is_written_in_the_given_zone() -> None:
    body = render(delivery(), unit_names=NAMES, now=BEFORE, tz=UTC)
    assert body["due_at"] == "2026-11-30T15:59:59+00:00"
    assert "2026-11-30 15:59" in body["text"]


@pytest.mark.parametrize("event", ["yellow", "red", "progress_due"])
def test_json_text_is_one_chinese_sentence_naming_unit_task_due_time(event: str) -> None:
    text = render(delivery(event), unit_names=NAMES, now=BEFORE)["text"]
    assert text.endswith("。")
    assert text.count("。") == 1
    assert "\n" not in text
    for part in ("发改局", "fgj", "T7", "推进县城污水管网改造", "2026-11-30 23:59", "剩余 1天2小时", "牵头"):
        assert part in text


def test_the_event_is_worded_consistently() -> None:
    assert render(delivery("yellow"), unit_names=NAMES, now=BEFORE)["text"].startswith("【黄色预警】")
    assert render(delivery("red"), unit_names=NAMES, now=AFTER)["text"].startswith("【红色预警】")
    assert render(delivery("progress_due"), unit_names=NAMES, now=BEFORE)["text"].startswith("【进展催报】")


def test_overdue_is_said_as_such() -> None:
    text = render(delivery("red"), unit_names=NAMES, now=AFTER)["text"]
    assert "已超期 3天5小时" in text
    assert "剩余" not in text


def test_a_missed_progress_deadline_is_named() -> None:
    text = render(delivery("progress_due"), unit_names=NAMES, now=BEFORE)["text"]
    assert "应于 2026-11-15 23:59 报送进展" in text


def test_a_co_unit_is_addressed_as_such_and_an_unknown_name_falls_back_to_the_id() -> None:
    assert "城关镇（xz1）协办" in sentence(delivery(unit="xz1"), unit_name="城关镇", now=BEFORE, tz=SH)
    text = render(delivery(unit="xz9"), unit_names=NAMES, now=BEFORE)["text"]
    assert "xz9协办" in text
    assert "（xz9）" not in text


@pytest.mark.parametrize("event", ["yellow", "red", "progress_due"])
def test_wecom_body_is_a_markdown_message(event: str) -> None:
    body = render(delivery(event, "wecom"), unit_names=NAMES, now=AFTER)
    assert list(body) == ["msgtype", "markdown"]
    assert body["msgtype"] == "markdown"
    assert list(body["markdown"]) == ["content"]
    content = body["markdown"]["content"]
    for part in ("发改局（fgj）", "T7", "推进县城污水管网改造", "2026-11-30 23:59", "已超期 3天5小时"):
        assert part in content
    assert ("应于 2026-11-15 23:59 报送进展" in content) == (event == "progress_due")
    assert len(content.encode("utf-8")) < 4096


@pytest.mark.parametrize("event", ["yellow", "red", "progress_due"])
def test_dingtalk_body_is_a_markdown_message_with_a_title(event: str) -> None:
    body = render(delivery(event, "dingtalk"), unit_names=NAMES, now=BEFORE)
    assert body["msgtype"] == "markdown"
    assert list(body["markdown"]) == ["title", "text"]
    assert "T7" in body["markdown"]["title"]
    text = body["markdown"]["text"]
    for part in ("发改局（fgj）", "T7", "推进县城污水管网改造", "2026-11-30 23:59", "剩余 1天2小时"):
        assert part in text
    # DingTalk's markdown needs a blank line to break one.
    assert "\n\n" in text


def test_a_very_long_title_is_cut_in_the_text_but_whole_in_the_json_field() -> None:
    d = delivery()
    long = Delivery(
        fact=TaskFact(
            task="T7",
            title="长" * 2000,
            lead_unit="fgj",
            co_units=(),
            event="yellow",
            due_at=DUE,
            assigned_at=ASSIGNED,
        ),
        unit="fgj",
        channel_index=0,
        channel=d.channel,
    )
    body = render(long, unit_names=NAMES, now=BEFORE)
    assert body["title"] == "长" * 2000
    assert "长" * 199 + "…" in body["text"]
    assert "长" * 200 not in body["text"]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "不足1小时"),
        (3599, "不足1小时"),
        (3600, "1小时"),
        (86400 + 7200, "1天2小时"),
        (-90061, "1天1小时"),
    ],
)
def test_span(seconds: int, words: str) -> None:
    assert span(seconds) == words


def test_time_left_at_the_due_instant_is_remaining() -> None:
    assert time_left(due_at=DUE, now=DUE) == "剩余 不足1小时"
    assert time_left(due_at=DUE, now=DUE + timedelta(seconds=1)) == "已超期 不足1小时"


def test_history_note_names_the_event_unit_and_redacted_channel() -> None:
    note = history_note(delivery("red"), unit_name="发改局", outcome=Outcome(delivered=True, attempts=3))
    assert "红色预警" in note
    assert "发改局（fgj）" in note
    assert "第3次尝试送达" in note
    assert "SECRET" not in note
    assert "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***" in note


def test_a_repeat_names_its_occurrence_in_the_body_the_text_and_the_history() -> None:
    second = delivery("red", occurrence=2, told=1)
    body = render(second, unit_names=NAMES, now=AFTER)
    assert body["occurrence"] == 2
    assert body["text"].startswith("【红色预警·第2次催办】发改局（fgj）")
    note = history_note(second, unit_name="发改局", outcome=Outcome(delivered=True, attempts=1))
    assert note.startswith("第2次催办（红色预警）已发送至发改局（fgj）")
    robot = render(delivery("red", "dingtalk", occurrence=2), unit_names=NAMES, now=AFTER)
    assert robot["markdown"]["title"] == "【红色预警·第2次催办】任务 T7"


def test_an_escalation_says_how_often_the_unit_was_told() -> None:
    up = delivery("red", occurrence=1, told=3, escalate=True)
    text = render(up, unit_names=NAMES, now=AFTER)["text"]
    assert text.startswith("【红色预警·提请督办】发改局（fgj）牵头的任务 T7")
    assert "该单位已被催办3次仍未办结" in text
    note = history_note(up, unit_name="发改局", outcome=Outcome(delivered=True, attempts=1))
    assert note.startswith("催办提级：发改局（fgj）的红色预警已提请督办（第1次）")


ZHANG = ("张伟", "13800001111")


def test_wecom_mentions_the_responsible_by_mobile_in_a_text_message() -> None:
    body = render(delivery("red", "wecom", responsible=ZHANG), unit_names=NAMES, now=AFTER)
    # WeCom's robot mentions by mobile only in a text message.
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800001111"]
    content = body["text"]["content"]
    assert content.startswith("【红色预警】发改局（fgj）牵头的任务 T7") and content.endswith("责任人：张伟")
    assert len(content.encode("utf-8")) <= 2048


def test_dingtalk_mentions_the_responsible_in_at_and_in_the_text() -> None:
    body = render(delivery("yellow", "dingtalk", responsible=ZHANG), unit_names=NAMES, now=BEFORE)
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": ["13800001111"], "isAtAll": False}
    # DingTalk shows the mention only when "@<mobile>" stands in the text too.
    assert "**责任人**：张伟 @13800001111" in body["markdown"]["text"]


def test_a_responsible_without_mobile_is_named_but_not_mentioned() -> None:
    nameonly = ("张伟", "")
    wecom = render(delivery("red", "wecom", responsible=nameonly), unit_names=NAMES, now=AFTER)
    assert wecom["msgtype"] == "markdown" and "**责任人**：张伟" in wecom["markdown"]["content"]
    ding = render(delivery("red", "dingtalk", responsible=nameonly), unit_names=NAMES, now=AFTER)
    assert "at" not in ding and "@" not in ding["markdown"]["text"]


@pytest.mark.parametrize("fmt", ["wecom", "dingtalk"])
def test_a_co_unit_and_the_supervisor_mention_nobody(fmt: str) -> None:
    for d in (
        delivery("red", fmt, "xz1", responsible=ZHANG),
        delivery("red", fmt, escalate=True, responsible=ZHANG),
    ):
        body = render(d, unit_names=NAMES, now=AFTER)
        assert "13800001111" not in json.dumps(body) and "张伟" not in json.dumps(body, ensure_ascii=False)


def test_the_json_body_stays_the_contract_and_the_mobile_stays_out_of_history_and_repr() -> None:
    mentioned = delivery("red", "json", responsible=ZHANG)
    assert list(render(mentioned, unit_names=NAMES, now=AFTER)) == [
        "task",
        "title",
        "unit",
        "event",
        "due_at",
        "occurrence",
        "text",
    ]
    assert mentioned.mention == ""
    robot = delivery("red", "dingtalk", responsible=ZHANG)
    note = history_note(robot, unit_name="发改局", outcome=Outcome(delivered=True, attempts=1))
    assert note.endswith("，@责任人张伟") and "13800001111" not in note
    assert "13800001111" not in repr(robot) and "13800001111" not in repr(robot.fact)
