"""Unit tests of one reminders check with a scripted sender: what is sent, skipped and recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notify.config import load_notify_config
from services.notify.cycle import run_cycle
from services.notify.delivery import Outcome
from services.notify.planner import TaskFact, Told

SH = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
CONFIG = load_notify_config(
    """
[[channels]]
url = "http://a.example/hook"
units = ["*"]
[[channels]]
url = "http://b.example/hook?key=K"
format = "wecom"
units = ["department"]
"""
)
CATEGORIES = {"fgj": "department", "czj": "department", "xz1": "township"}


class Sender:
    """Answers per host: delivered, down (passing failure), or refused (final failure)."""

    def __init__(self, **verdicts: str) -> None:
        self.verdicts = verdicts
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, *, url: str, body: dict[str, Any], fmt: str, **_: Any) -> Outcome:
        self.calls.append((url, body))
        verdict = self.verdicts.get(url.split("/")[2], "delivered")
        if verdict == "delivered":
            return Outcome(delivered=True, attempts=1, status=200)
        return Outcome(delivered=False, attempts=3, status=503, permanent=verdict == "refused")


def facts() -> list[TaskFact]:
    assigned = DUE - timedelta(days=20)
    return [
        TaskFact("T1", "甲", "fgj", (), "yellow", DUE, assigned),
        TaskFact("T2", "乙", "czj", ("xz1",), "yellow", DUE, assigned),
    ]


NOW = DUE - timedelta(days=2)


def check(sender: Sender, announced: dict[tuple[str, str, str], list[Told]] | None = None) -> Any:
    return run_cycle(
        facts=facts(),
        config=CONFIG,
        categories=CATEGORIES,
        unit_names={"fgj": "发改局"},
        announced=announced or {},
        now=NOW,
        send=sender,
    )


def test_every_delivery_is_rendered_in_its_channels_format() -> None:
    sender = Sender()
    result = check(sender)
    assert [(url.split("/")[2], "msgtype" in body) for url, body in sender.calls] == [
        ("a.example", False),
        ("b.example", True),
        ("a.example", False),
        ("b.example", True),
        ("a.example", False),
    ]
    assert len(result.delivered) == 5
    assert "发改局（fgj）" in result.delivered[0].note
    a, b = (c.fingerprint for c in CONFIG.channels)
    assert result.recorded == {
        ("T1", "yellow", "fgj"): [Told(a, 1, NOW, DUE), Told(b, 1, NOW, DUE)],
        ("T2", "yellow", "czj"): [Told(a, 1, NOW, DUE), Told(b, 1, NOW, DUE)],
        ("T2", "yellow", "xz1"): [Told(a, 1, NOW, DUE)],
    }


def test_a_channel_down_is_not_tried_again_in_the_same_check() -> None:
    sender = Sender(**{"b.example": "down"})
    result = check(sender)
    assert [url.split("/")[2] for url, _ in sender.calls] == [
        "a.example",
        "b.example",
        "a.example",
        "a.example",
    ]
    skipped = [s for s in result.sent if s.outcome.attempts == 0]
    assert [(s.delivery.key, s.delivery.channel_index) for s in skipped] == [(("T2", "yellow", "czj"), 1)]
    assert all(s.note == "" for s in result.sent if not s.outcome.delivered)
    # Channel a took every key; b's are not recorded, so the next check tries b again.
    a, _ = (c.fingerprint for c in CONFIG.channels)
    assert {key: [r.channel for r in rows] for key, rows in result.recorded.items()} == {
        ("T1", "yellow", "fgj"): [a],
        ("T2", "yellow", "czj"): [a],
        ("T2", "yellow", "xz1"): [a],
    }
    again = Sender()
    check(again, announced={key: list(rows) for key, rows in result.recorded.items()})
    assert [url.split("/")[2] for url, _ in again.calls] == ["b.example", "b.example"]


def test_a_refusing_channel_is_still_tried_for_the_next_key() -> None:
    sender = Sender(**{"b.example": "refused"})
    check(sender)
    assert [url.split("/")[2] for url, _ in sender.calls].count("b.example") == 2


def test_keys_whose_every_channel_is_down_stay_open_for_the_next_check() -> None:
    sender = Sender(**{"a.example": "down", "b.example": "down"})
    result = check(sender)
    assert len(sender.calls) == 2
    assert result.delivered == ()
    assert result.recorded == {}


def test_announced_keys_are_not_sent_again() -> None:
    sender = Sender()
    a, b = (c.fingerprint for c in CONFIG.channels)
    told = [Told(a, 1, NOW), Told(b, 1, NOW)]
    result = check(sender, announced={("T1", "yellow", "fgj"): told, ("T2", "yellow", "czj"): told})
    assert [s.delivery.key for s in result.sent] == [("T2", "yellow", "xz1")]
