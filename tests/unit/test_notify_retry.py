"""Unit tests of delivery's rules without a network: redaction, backoff, Retry-After, what is final."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.notify.delivery import Outcome, RetryPolicy, deliver, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
        ),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=xyz",
            "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=***&sign=***",
        ),
        ("http://user:pw@10.0.0.5:8080/hook#frag", "http://***@10.0.0.5:8080/hook"),
        ("http://127.0.0.1:9999/hook", "http://127.0.0.1:9999/hook"),
        ("http://[::1]:9999/hook?token=t", "http://[::1]:9999/hook?token=***"),
        ("http://host:notaport/hook?key=k", "<unparseable url>"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


class Script:
    """A sender that answers from a script: (status, body dict) or an exception to raise."""

    def __init__(self, *answers: tuple[int, dict[str, Any], str] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, *, url: str, body: Any, timeout: float) -> tuple[int, bytes, str]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, payload, retry_after = answer
        return status, json.dumps(payload).encode(), retry_after


def run(
    script: Script, *, fmt: str = "json", policy: RetryPolicy | None = None
) -> tuple[Outcome, list[float]]:
    pauses: list[float] = []
    outcome = deliver(
        url="https://robot.example/send?key=S",
        body={"msgtype": "markdown"},
        fmt=fmt,
        policy=policy or RetryPolicy(max_attempts=4, base_seconds=2, max_backoff_seconds=30),
        sleep=pauses.append,
        send=script,
    )
    return outcome, pauses


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=2, max_backoff_seconds=10)
    assert [policy.backoff(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_a_policy_refuses_no_attempts_and_a_zero_timeout() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(timeout_seconds=0)


def test_a_longer_retry_after_is_honoured_but_capped() -> None:
    outcome, pauses = run(Script((503, {}, "7"), (429, {}, "600"), (200, {}, "")))
    assert outcome.delivered
    assert pauses == [7, 30]


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    outcome, pauses = run(Script((503, {}, "soon"), (200, {}, "")))
    assert outcome.delivered
    assert pauses == [2]


def test_timeouts_and_broken_answers_are_retried() -> None:
    script = Script(TimeoutError("timed out"), http.client.BadStatusLine("garbage"), (200, {}, ""))
    outcome, pauses = run(script)
    assert outcome.delivered
    assert outcome.attempts == 3
    assert pauses == [2, 4]


@pytest.mark.parametrize("status", [301, 401, 403, 404, 413])
def test_other_answers_than_2xx_5xx_429_are_final(status: int) -> None:
    outcome, pauses = run(Script((status, {}, "")))
    assert (outcome.delivered, outcome.permanent, outcome.attempts, outcome.status) == (
        False,
        True,
        1,
        status,
    )
    assert pauses == []


def test_a_robot_answer_without_errcode_is_taken_as_accepted() -> None:
    outcome, _ = run(Script((200, {"ok": True}, "")), fmt="wecom")
    assert outcome.delivered
    assert outcome.errcode is None


def test_a_robot_busy_errcode_is_retried_until_the_attempts_run_out() -> None:
    outcome, pauses = run(Script(*[(200, {"errcode": -1, "errmsg": "system busy"}, "")] * 4), fmt="dingtalk")
    assert (outcome.delivered, outcome.permanent, outcome.attempts, outcome.errcode) == (False, False, 4, -1)
    assert outcome.error == "errcode -1: system busy"
    assert pauses == [2, 4, 8]


def test_an_error_that_quotes_the_url_is_scrubbed() -> None:
    script = Script(OSError("cannot reach https://robot.example/send?key=S"))
    outcome, _ = run(script, policy=RetryPolicy(max_attempts=1))
    assert "key=S" not in outcome.error
    assert "https://robot.example/send?key=***" in outcome.error


def test_a_dingtalk_secret_signs_every_attempt_with_a_fresh_timestamp() -> None:
    urls: list[str] = []
    answers = iter([(503, b"", ""), (200, b'{"errcode": 0}', "")])

    def send(*, url: str, body: Any, timeout: float) -> tuple[int, bytes, str]:
        urls.append(url)
        return next(answers)

    ticks = iter([1_700_000_000.0, 1_700_000_001.5])
    outcome = deliver(
        url="https://oapi.dingtalk.com/robot/send?access_token=T",
        body={"msgtype": "markdown"},
        fmt="dingtalk",
        policy=RetryPolicy(base_seconds=0),
        sleep=lambda _: None,
        send=send,
        secret="SECxyz",
        clock=lambda: next(ticks),
    )
    assert outcome.delivered and outcome.attempts == 2
    stamps = []
    for url in urls:
        query = parse_qs(urlsplit(url).query)
        assert query["access_token"] == ["T"]
        (stamp,) = query["timestamp"]
        # Recomputed as DingTalk documents it: HMAC-SHA256 keyed by the secret over "timestamp\nsecret".
        digest = hmac.new(b"SECxyz", f"{stamp}\nSECxyz".encode(), hashlib.sha256).digest()
        assert query["sign"] == [base64.b64encode(digest).decode()]
        stamps.append(stamp)
    assert stamps == ["1700000000000", "1700000001500"]


def test_without_a_secret_or_for_another_format_the_url_is_left_as_it_is() -> None:
    urls: list[str] = []

    def send(*, url: str, body: Any, timeout: float) -> tuple[int, bytes, str]:
        urls.append(url)
        return 200, b'{"errcode": 0}', ""

    deliver(url="https://robot/send?access_token=T", body={}, fmt="dingtalk", send=send)
    deliver(url="https://robot/send?key=K", body={}, fmt="wecom", send=send, secret="S")
    assert urls == ["https://robot/send?access_token=T", "https://robot/send?key=K"]
