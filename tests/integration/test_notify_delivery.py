"""Integration tests of reminder delivery against a real HTTP receiver on a loopback :0 port."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.notify.config import load_notify_config
from services.notify.cycle import run_cycle
from services.notify.delivery import RetryPolicy, deliver
from services.notify.planner import TaskFact

SH = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
FAST = RetryPolicy(max_attempts=5, base_seconds=0.5, max_backoff_seconds=8, timeout_seconds=5)


@dataclass
class Received:
    path: str
    content_type: str
    body: Any


@dataclass
class Receiver:
    """A webhook that answers from a script of (status, body) and records every POST it gets."""

    script: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with lock:
                state.attempts += 1
                status, answer = state.script.pop(0) if state.script else (200, None)
                if status == 200 and (answer is None or answer.get("errcode", 0) == 0):
                    state.received.append(
                        Received(self.path, self.headers.get("Content-Type", ""), json.loads(raw))
                    )
            data = json.dumps(answer if answer is not None else {"ok": True}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Sleeps:
    """An injected sleep that records the pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


BODY = {
    "task": "T1",
    "title": "防汛物资清点",
    "unit": "fgj",
    "event": "red",
    "due_at": "…",
    "text": "红色预警。",
}


def test_fails_twice_with_503_then_delivers_exactly_once(receiver: Receiver) -> None:
    receiver.script = [(503, None), (503, None), (200, None)]
    sleeps = Sleeps()
    outcome = deliver(url=receiver.url(), body=BODY, fmt="json", policy=FAST, sleep=sleeps)
    assert outcome.delivered
    assert outcome.attempts == 3
    assert receiver.attempts == 3
    assert [r.body for r in receiver.received] == [BODY]
    assert receiver.received[0].content_type.startswith("application/json")
    assert sleeps.pauses == [0.5, 1.0]


def test_the_body_is_utf8_json(receiver: Receiver) -> None:
    deliver(url=receiver.url(), body=BODY, fmt="json", policy=FAST, sleep=Sleeps())
    assert receiver.received[0].body["title"] == "防汛物资清点"
    assert "charset=utf-8" in receiver.received[0].content_type


def test_a_400_is_not_retried(receiver: Receiver) -> None:
    receiver.script = [(400, {"error": "bad"})]
    sleeps = Sleeps()
    outcome = deliver(url=receiver.url(), body=BODY, fmt="json", policy=FAST, sleep=sleeps)
    assert not outcome.delivered
    assert outcome.permanent
    assert (outcome.attempts, outcome.status) == (1, 400)
    assert receiver.attempts == 1
    assert sleeps.pauses == []


def test_429_is_retried(receiver: Receiver) -> None:
    receiver.script = [(429, None), (200, None)]
    outcome = deliver(url=receiver.url(), body=BODY, fmt="json", policy=FAST, sleep=Sleeps())
    assert outcome.delivered
    assert outcome.attempts == 2


def test_attempts_run_out_as_a_passing_failure_with_capped_backoff(receiver: Receiver) -> None:
    receiver.script = [(500, None)] * 5
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=5, base_seconds=1, max_backoff_seconds=3, timeout_seconds=5)
    outcome = deliver(url=receiver.url(), body=BODY, fmt="json", policy=policy, sleep=sleeps)
    assert not outcome.delivered
    assert not outcome.permanent
    assert (outcome.attempts, outcome.status, outcome.error) == (5, 500, "HTTP 500")
    assert receiver.attempts == 5
    assert sleeps.pauses == [1, 2, 3, 3]


def test_a_connection_refused_is_retried_then_given_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=3, base_seconds=0.25, timeout_seconds=2)
    outcome = deliver(url=f"http://127.0.0.1:{port}/hook", body=BODY, fmt="json", policy=policy, sleep=sleeps)
    assert not outcome.delivered
    assert not outcome.permanent
    assert outcome.attempts == 3
    assert outcome.status is None
    assert sleeps.pauses == [0.25, 0.5]


@pytest.mark.parametrize("fmt", ["wecom", "dingtalk"])
def test_a_robots_rate_limit_errcode_is_retried(receiver: Receiver, fmt: str) -> None:
    code = 45009 if fmt == "wecom" else 130101
    receiver.script = [(200, {"errcode": code, "errmsg": "too fast"}), (200, {"errcode": 0, "errmsg": "ok"})]
    outcome = deliver(url=receiver.url("/send?key=K"), body=BODY, fmt=fmt, policy=FAST, sleep=Sleeps())
    assert outcome.delivered
    assert (outcome.attempts, outcome.errcode) == (2, 0)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("fmt", ["wecom", "dingtalk"])
def test_a_robots_other_errcode_is_final(receiver: Receiver, fmt: str) -> None:
    receiver.script = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    sleeps = Sleeps()
    outcome = deliver(url=receiver.url("/send?key=K"), body=BODY, fmt=fmt, policy=FAST, sleep=sleeps)
    assert not outcome.delivered
    assert outcome.permanent
    assert (outcome.attempts, outcome.status, outcome.errcode) == (1, 200, 93000)
    assert "invalid webhook url" in outcome.error
    assert sleeps.pauses == []


def test_errcode_means_nothing_to_a_plain_json_endpoint(receiver: Receiver) -> None:
    receiver.script = [(200, {"errcode": 93000})]
    outcome = deliver(url=receiver.url(), body=BODY, fmt="json", policy=FAST, sleep=Sleeps())
    assert outcome.delivered


def test_the_query_string_never_reaches_a_log_line(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [(503, None), (200, {"errcode": 45009}), (200, {"errcode": 40001, "errmsg": "bad key"})]
    caplog.set_level(logging.DEBUG)
    url = receiver.url("/cgi-bin/webhook/send?key=TOP-SECRET-KEY")
    outcome = deliver(url=url, body=BODY, fmt="wecom", policy=FAST, sleep=Sleeps())
    assert not outcome.delivered
    lines = [r.getMessage() + json.dumps(vars(r), default=str) for r in caplog.records]
    assert len(lines) == 3
    assert all("TOP-SECRET-KEY" not in line for line in lines)
    assert any("/cgi-bin/webhook/send?key=***" in line for line in lines)
    assert "TOP-SECRET-KEY" not in outcome.error


def test_a_check_announces_each_key_once_and_reports_what_to_record(receiver: Receiver) -> None:
    config = load_notify_config(
        f"""
interval_seconds = 60
[[channels]]
url = "{receiver.url("/all")}"
format = "json"
units = ["*"]
events = ["yellow", "red"]
[[channels]]
url = "{receiver.url("/supervisor?access_token=T")}"
format = "dingtalk"
escalate = true
"""
    )
    facts = [
        TaskFact("T1", "防汛物资清点", "fgj", ("xz1",), "red", DUE, DUE - timedelta(days=10)),
        TaskFact("T2", "秋粮收购", "xz1", (), "yellow", DUE, DUE - timedelta(days=10)),
    ]
    now = DUE + timedelta(hours=5)
    common = {
        "config": config,
        "categories": {"fgj": "department", "xz1": "township"},
        "unit_names": {"fgj": "发改局", "xz1": "城关镇"},
        "now": now,
        "policy": FAST,
        "sleep": Sleeps(),
    }
    first = run_cycle(facts=facts, announced={}, **common)
    assert [(r.path, r.body.get("unit", "")) for r in receiver.received] == [
        ("/all", "fgj"),
        ("/supervisor?access_token=T", ""),
        ("/all", "xz1"),
        ("/supervisor?access_token=T", ""),
        ("/all", "xz1"),
    ]
    assert receiver.received[1].body["msgtype"] == "markdown"
    assert "发改局（fgj）" in receiver.received[1].body["markdown"]["text"]
    assert sorted(first.recorded) == [("T1", "red", "fgj"), ("T1", "red", "xz1"), ("T2", "yellow", "xz1")]
    assert len(first.delivered) == 5
    assert all("第1次催办（" in s.note or "提请督办" in s.note for s in first.delivered)
    assert all("access_token=T" not in s.note for s in first.delivered)

    second = run_cycle(facts=facts, announced=first.recorded, **common)
    assert second.sent == ()
    assert receiver.attempts == 5


def test_the_robots_mention_the_responsible_by_mobile_and_nobody_without_one(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """What reaches the receiver: WeCom's mentioned_mobile_list, DingTalk's at.atMobiles with @<mobile>
    in its text; a 责任人 without a mobile is named but mentioned by neither; no mobile in a log line."""
    config = load_notify_config(
        f"""
interval_seconds = 60
[[channels]]
url = "{receiver.url("/wecom?key=K")}"
format = "wecom"
units = ["*"]
[[channels]]
url = "{receiver.url("/ding?access_token=T")}"
format = "dingtalk"
units = ["*"]
"""
    )
    assigned = DUE - timedelta(days=10)
    facts = [
        TaskFact("T1", "防汛物资清点", "fgj", (), "red", DUE, assigned, None, "张伟", "13800001111"),
        TaskFact("T2", "秋粮收购", "xz1", (), "red", DUE, assigned, None, "李娜", ""),
    ]
    caplog.set_level(logging.DEBUG)
    result = run_cycle(
        facts=facts,
        config=config,
        categories={"fgj": "department", "xz1": "township"},
        unit_names={"fgj": "发改局", "xz1": "城关镇"},
        announced={},
        now=DUE + timedelta(hours=5),
        policy=FAST,
        sleep=Sleeps(),
    )
    assert len(result.delivered) == 4
    by_path = {(r.path.partition("?")[0], r.body.get("msgtype")): r.body for r in receiver.received}
    wecom = by_path[("/wecom", "text")]
    assert wecom["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert wecom["text"]["content"].endswith("责任人：张伟")
    ding_bodies = [r.body for r in receiver.received if r.path.startswith("/ding")]
    mentioned, unmentioned = ding_bodies
    assert mentioned["at"] == {"atMobiles": ["13800001111"], "isAtAll": False}
    assert "@13800001111" in mentioned["markdown"]["text"]
    # 李娜 has no mobile: named, mentioned by neither robot.
    plain = by_path[("/wecom", "markdown")]
    assert "**责任人**：李娜" in plain["markdown"]["content"] and "mentioned_mobile_list" not in json.dumps(
        plain
    )
    assert "at" not in unmentioned and "@" not in unmentioned["markdown"]["text"]
    assert "**责任人**：李娜" in unmentioned["markdown"]["text"]
    # The mobile reaches the robots and nowhere else: not a log line, not the history.
    lines = [r.getMessage() + json.dumps(vars(r), default=str) for r in caplog.records]
    assert lines and all("13800001111" not in line for line in lines)
    assert all("13800001111" not in s.note for s in result.delivered)
    assert sum(s.note.endswith("@责任人张伟") for s in result.delivered) == 2
