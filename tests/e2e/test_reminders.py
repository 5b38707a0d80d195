"""Reminders (催办) end to end: `kaohe serve --notify` POSTs to receivers this test runs on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import KAOHE, Served, start_served

pytestmark = pytest.mark.slow
SH = ZoneInfo("Asia/Shanghai")
CHANNELS = ("json", "wecom", "dingtalk", "boss")


@dataclass
class Receiver:
    """Records every POST by path; the first `failures` POSTs to /json answer 503."""

    failures: int = 2
    received: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in CHANNELS})
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            channel = self.path.strip("/")
            with state.lock:
                if channel == "json" and state.failures:
                    state.failures -= 1
                    state.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                state.received[channel].append(body)
            answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def ledger(now: datetime) -> list[dict[str, Any]]:
    def at(moment: datetime) -> str:
        return moment.replace(microsecond=0).isoformat()

    return [
        {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
        {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
        {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
        # Red: 7 working days, a month ago; czj helps.
        {
            "type": "task",
            "id": "R1",
            "title": "落实批示：民生实事资金拨付",
            "task_type": "leader_directive",
            "lead_unit": "fgj",
            "co_units": ["czj"],
            "assigned_at": at(now - timedelta(days=30)),
        },
        # Yellow: nine tenths of its time gone.
        {
            "type": "task",
            "id": "Y1",
            "title": "会签：年度预算草案",
            "task_type": "countersign",
            "lead_unit": "czj",
            "assigned_at": at(now - timedelta(days=9)),
            "due_at": at(now + timedelta(days=1)),
        },
        # Blue, but its first quarterly progress report (3 months in) is overdue.
        {
            "type": "task",
            "id": "M1",
            "title": "重大事项：工业园区扩区",
            "task_type": "major_item",
            "lead_unit": "cgz",
            "assigned_at": at(now - timedelta(days=120)),
        },
    ]


def notify_file(path: Path, port: int) -> Path:
    hook = f"http://127.0.0.1:{port}"
    path.write_text(
        "interval_seconds = 1\n"
        + "".join(
            f'[[channels]]\nurl = "{hook}/{fmt}"\nformat = "{fmt}"\nunits = ["*"]\n'
            f'events = ["yellow", "red", "progress_due"]\n\n'
            for fmt in ("json", "wecom", "dingtalk")
        )
        + f'[[channels]]\nurl = "{hook}/boss"\nformat = "json"\nescalate = true\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def stack(tmp_path: Path, receiver: Receiver) -> Iterator[Served]:
    served = start_served(
        tmp_path, extra=("--notify", str(notify_file(tmp_path / "notify.toml", receiver.port)))
    )
    yield served
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=20)


def reminder_checks(served: Served) -> float:
    """kaohe_reminder_checks_total on the tasks service's /metrics (the gateway's port + 11)."""
    base = int(served.env["KAOHE_GATEWAY"].rsplit(":", 1)[1])
    with urllib.request.urlopen(f"http://127.0.0.1:{base + 11}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("kaohe_reminder_checks_total "):
                return float(line.split()[1])
    return 0.0


def keys(bodies: list[Any]) -> list[tuple[str, str, str]]:
    return sorted((b["task"], b["event"], b["unit"]) for b in bodies)


def test_each_task_event_and_unit_reaches_each_channel_once(
    stack: Served, receiver: Receiver, tmp_path: Path
) -> None:
    stack.env["KAOHE_TOKEN"] = stack.kaohe("token", "--role", "office").stdout.strip()
    path = tmp_path / "ledger.jsonl"
    records = ledger(datetime.now(SH))
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    stack.kaohe("import", str(path))

    expected = [
        ("M1", "progress_due", "cgz"),
        ("R1", "red", "czj"),
        ("R1", "red", "fgj"),
        ("Y1", "yellow", "czj"),
    ]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with receiver.lock:
            counts = [len(receiver.received[c]) for c in CHANNELS]
        if counts == [4, 4, 4, 2]:
            break
        time.sleep(0.5)
    # Four more checks of the loop: nothing more may come.
    seen = reminder_checks(stack)
    wait_for(lambda: reminder_checks(stack) >= seen + 4, "four more reminder checks")
    with receiver.lock:
        received = {c: list(v) for c, v in receiver.received.items()}
    assert receiver.refused == 2
    assert keys(received["json"]) == expected
    assert keys(received["boss"]) == [("R1", "red", "czj"), ("R1", "red", "fgj")]
    for body in received["json"]:
        assert body["title"] and body["due_at"] and "text" in body
    for fmt in ("wecom", "dingtalk"):
        bodies = received[fmt]
        assert len(bodies) == 4 and all(b["msgtype"] == "markdown" for b in bodies)
        texts = [b["markdown"]["text"] if fmt == "dingtalk" else b["markdown"]["content"] for b in bodies]
        for task, unit in (("R1", "发改局"), ("R1", "财政局"), ("Y1", "财政局"), ("M1", "城关镇")):
            assert any(task in text and unit in text for text in texts), (fmt, task, unit)

    shown = json.loads(stack.kaohe("tasks", "show", "R1", "--json").stdout)
    reminded = [e for e in shown["history"] if e["kind"] == "remind"]
    assert len(reminded) == 8  # two units × (json, wecom, dingtalk, the escalate channel)
    assert shown["state"] == "assigned" and shown["color"] == "red"
    assert "催办" in stack.kaohe("tasks", "show", "R1").stdout
    lapse = json.loads(stack.kaohe("tasks", "show", "M1", "--json").stdout)
    assert lapse["progress_overdue_since"]

    base = int(stack.env["KAOHE_GATEWAY"].rsplit(":", 1)[1])
    with urllib.request.urlopen(f"http://127.0.0.1:{base + 11}/metrics", timeout=10) as answer:
        metrics = answer.read().decode()
    assert 'kaohe_reminders_sent_total{event="red",format="json"} 4.0' in metrics
    assert 'kaohe_tasks_progress_overdue{unit="cgz"} 1.0' in metrics


def test_a_bad_notify_file_stops_serve_with_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "notify.toml"
    bad.write_text('[[channels]]\nurl = "http://127.0.0.1:9/hook"\nformat = "slack"\nunits = ["*"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
    result = subprocess.run(
        [
            *(KAOHE, "serve", "--data-dir", str(tmp_path / "data")),
            *("--scheme", str(example_path("scheme.toml")), "--notify", str(bad), "--port-base", "29950"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "channels[0].format" in lines[0], result.stderr


@dataclass
class Hooks:
    """Every POST by path: (the query string, the body)."""

    posts: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [body for _, body in self.posts.get(path, [])]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            path, _, query = self.path.partition("?")
            with state.lock:
                state.posts.setdefault(path, []).append((query, body))
            answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


SECRET = "SEC0123456789abcdef"


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """DingTalk's robot signature, recomputed here from its documentation, not from the product's code."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_red_task_is_chased_at_once_escalated_for_a_unit_without_a_channel_and_signed_for_dingtalk(
    tmp_path: Path, hooks: Hooks
) -> None:
    """`--notify`'s minute repeat and its escalation after two are passed on the loop's clock in
    tests/integration/test_reminders_loop.py (same file, same receivers); here, what real time shows."""
    hook = f"http://127.0.0.1:{hooks.port}"
    notify = tmp_path / "notify.toml"
    notify.write_text(
        "interval_seconds = 1\n"
        f'[[channels]]\nurl = "{hook}/fgj"\nformat = "json"\nunits = ["fgj"]\nevents = ["red"]\n'
        'repeat = { amount = 1, unit = "minutes" }\n'
        f'[[channels]]\nurl = "{hook}/robot/send?access_token=T0"\nformat = "dingtalk"\nunits = ["fgj"]\n'
        f'events = ["red"]\nsecret = "{SECRET}"\n'
        f'[[channels]]\nurl = "{hook}/boss"\nformat = "json"\nescalate = true\nescalate_after = 2\n',
        encoding="utf-8",
    )
    start = datetime.now(SH).replace(microsecond=0)
    served = start_served(tmp_path, extra=("--notify", str(notify)))
    try:
        served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
        path = tmp_path / "ledger.jsonl"
        red = [r for r in ledger(start) if r["type"] == "unit" or r.get("id") == "R1"]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in red), encoding="utf-8")
        served.kaohe("import", str(path))

        def settle() -> None:
            # Two more checks after this one began: whatever was due has gone out.
            seen = reminder_checks(served)
            wait_for(lambda: reminder_checks(served) >= seen + 2, "two more reminder checks")

        wait_for(lambda: hooks.bodies("/fgj"), "occurrence 1")
        settle()
        assert [(b["task"], b["unit"], b["event"], b["occurrence"]) for b in hooks.bodies("/fgj")] == [
            ("R1", "fgj", "red", 1)
        ]
        # czj has no channel of its own, so the supervisor hears of it at once; fgj only once told twice.
        assert [(b["unit"], b["occurrence"]) for b in hooks.bodies("/boss")] == [("czj", 1)]

        # The DingTalk robot has no repeat: told once, signed as DingTalk checks it.
        with hooks.lock:
            (robot,) = hooks.posts["/robot/send"]
        query = dict(part.split("=", 1) for part in robot[0].split("&"))
        assert query["access_token"] == "T0"
        assert abs(int(query["timestamp"]) - time.time() * 1000) < 3_600_000
        assert query["sign"] == dingtalk_sign(query["timestamp"], SECRET)
        assert robot[1]["msgtype"] == "markdown"

        shown = json.loads(served.kaohe("tasks", "show", "R1", "--json").stdout)
        notes = [e["note"] for e in shown["history"] if e["kind"] == "remind"]
        assert sum(n.startswith("第1次催办") for n in notes) == 2  # json and DingTalk
        assert sum("提请督办" in n for n in notes) == 1  # czj at once
    finally:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGTERM)
            served.process.wait(timeout=20)
