"""The reminders loop in the tasks service: facts from the ledger, once per key, history, progress lapses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from prometheus_client import CollectorRegistry

from services.common.result_wire import result_to_json_dict
from services.common.wiretime import rfc3339_of
from services.notify.config import NotifyConfig, load_notify_config, parse_notify_config
from services.notify.delivery import Outcome
from services.tasks.reminders import ReminderLoop, open_task_facts
from tests.conftest import Stack
from tests.tasks_text import TextStub, typed

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def ledger() -> bytes:
    records: list[dict[str, Any]] = [
        {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
        {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
        {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
        # Red: due 2026-11-11, never reported; czj helps.
        {
            "type": "task",
            "id": "R1",
            "title": "落实批示：民生实事资金拨付",
            "task_type": "leader_directive",
            "lead_unit": "fgj",
            "co_units": ["czj"],
            "assigned_at": "2026-11-02T09:00:00+08:00",
        },
        # Yellow: 90% of its time gone.
        {
            "type": "task",
            "id": "Y1",
            "title": "会签：年度预算草案",
            "task_type": "countersign",
            "lead_unit": "czj",
            "assigned_at": "2026-11-17T18:00:00+08:00",
            "due_at": "2026-11-28T18:00:00+08:00",
        },
        # A major item, blue, whose first progress deadline (2026-09-01) passed with no report.
        {
            "type": "task",
            "id": "M1",
            "title": "重大事项：工业园区扩区",
            "task_type": "major_item",
            "lead_unit": "cgz",
            "assigned_at": "2026-06-01T09:00:00+08:00",
        },
        # Reported in time: nothing to say.
        {
            "type": "task",
            "id": "D1",
            "title": "督办函：秋粮收购",
            "task_type": "supervision_letter",
            "lead_unit": "fgj",
            "assigned_at": "2026-11-02T09:00:00+08:00",
        },
        {"type": "task_event", "task": "D1", "kind": "report", "at": "2026-11-03T09:00:00+08:00"},
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


CONFIG = parse_notify_config(
    {
        "interval_seconds": 1,
        "channels": [
            {"url": "http://127.0.0.1:9/all", "format": "json", "units": ["*"]},
            {"url": "http://127.0.0.1:9/towns", "format": "wecom", "units": ["township"]},
            {"url": "http://127.0.0.1:9/boss", "format": "dingtalk", "escalate": True, "events": ["red"]},
        ],
    }
)


class Sender:
    """Records every POST; the first `failures` answers are passing failures."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.posts: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, *, url: str, body: dict[str, Any], fmt: str, **_: Any) -> Outcome:
        if self.failures:
            self.failures -= 1
            return Outcome(delivered=False, attempts=5, status=503, error="HTTP 503")
        self.posts.append((url, fmt, body))
        return Outcome(delivered=True, attempts=1, status=200)


def loop(stack: Stack, send: Sender, config: NotifyConfig = CONFIG) -> ReminderLoop:
    return ReminderLoop(
        stack.parts["tasks"].app, config, registry=CollectorRegistry(), send=send, clock=lambda: NOW
    )


def test_facts_name_yellow_red_and_the_missed_progress_deadline(stack: Stack) -> None:
    stack.import_ledger(ledger())
    facts = open_task_facts(stack.parts["tasks"].app, now=NOW)
    events = sorted((f.task, f.event) for f in facts)
    assert events == [("M1", "progress_due"), ("R1", "red"), ("Y1", "yellow")]
    (lapse,) = [f for f in facts if f.event == "progress_due"]
    assert lapse.progress_due_at is not None and lapse.progress_due_at.date().isoformat() == "2026-09-01"


def preview(stack: Stack) -> Any:
    _, _, scoring = stack.stubs()
    request = scoring_pb2.PreviewAssessmentRequest(year=2026, as_of="2026-11-27T18:00:00+08:00")
    return result_to_json_dict(
        scoring.PreviewAssessment(request, metadata=stack.metadata(), timeout=60).result
    )


def test_each_key_goes_out_once_and_lands_in_the_history(stack: Stack) -> None:
    stack.import_ledger(ledger())
    before = preview(stack)
    send = Sender()
    reminders = loop(stack, send)
    first = reminders.check_once()
    keys = sorted(first.recorded)
    assert keys == [
        ("M1", "progress_due", "cgz"),
        ("R1", "red", "czj"),
        ("R1", "red", "fgj"),
        ("Y1", "yellow", "czj"),
    ]
    by_channel = sorted((url.rsplit("/", 1)[1], body.get("task", "")) for url, _, body in send.posts)
    # json: every key; wecom: the township's lapse; dingtalk (escalate): red of each unit.
    assert [c for c, _ in by_channel].count("all") == 4
    assert [c for c, _ in by_channel].count("towns") == 1
    assert [c for c, _ in by_channel].count("boss") == 2
    assert reminders.check_once().sent == ()
    # A restarted loop reads the announced keys back.
    assert loop(stack, send).check_once().sent == ()
    assert len(send.posts) == 7

    _, raw_tasks, _ = stack.stubs()

    tasks = TextStub(raw_tasks)
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10).task
    reminded = [e for e in task.history if e.kind == "remind"]
    # fgj and czj, each by json and by the escalate channel.
    assert len(reminded) == 4 and all("催办" in e.note for e in reminded)
    assert task.state == "assigned" and task.color == "red"
    # Scoring reads the loop, not the reminders: the standing is what it was.
    after = preview(stack)
    assert [(u["unit"], u["total"]) for u in after["units"]] == [
        (u["unit"], u["total"]) for u in before["units"]
    ]
    # The loop still runs on a history with reminders in it, and a re-import changes nothing.
    accepted = tasks.AcceptTask(
        tasks_pb2.AcceptTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10
    ).task
    assert accepted.state == "accepted"
    again = stack.import_ledger(ledger())
    assert sum(again.created.values()) == 0


def test_a_failing_channel_is_tried_again_at_the_next_check(stack: Stack) -> None:
    stack.import_ledger(ledger())
    send = Sender(failures=1)
    only_json = NotifyConfig(interval_seconds=1, channels=CONFIG.channels[:1])
    reminders = loop(stack, send, only_json)
    first = reminders.check_once()
    # The channel stayed down through its retries: nothing is recorded, everything waits.
    assert not first.delivered and not first.recorded
    second = reminders.check_once()
    assert len(second.sent) == 4 and all(s.outcome.delivered for s in second.sent)
    assert reminders.check_once().sent == ()
    json_posts = [(b["task"], b["event"], b["unit"]) for url, fmt, b in send.posts if fmt == "json"]
    assert len(json_posts) == len(set(json_posts)) == 4


def test_the_task_shows_its_progress_lapse(stack: Stack) -> None:
    stack.import_ledger(ledger())
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    as_of = NOW.isoformat()
    # Without an as_of the task is read as of now: its September deadline has passed either way.
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="M1"), metadata=stack.metadata(), timeout=10).task
    assert task.progress_overdue_since.startswith("2026-09-01")
    listed = tasks.ListTasks(
        typed(tasks_pb2.ListTasksRequest, as_of=as_of), metadata=stack.metadata(), timeout=10
    )
    lapses = {t.id: t.progress_overdue_since for t in listed.tasks}
    assert lapses["M1"].startswith("2026-09-01") and lapses["R1"] == ""


def test_the_dashboard_marks_the_progress_lapse(stack: Stack) -> None:
    stack.import_ledger(ledger())
    gateway, _, _ = stack.stubs()
    shown = gateway.GetDashboard(
        gateway_pb2.GetDashboardRequest(year=2026), metadata=stack.metadata("department", "cgz"), timeout=60
    )
    items = {i.task: i for i in shown.open_items}
    lapse = rfc3339_of(items["M1"], "progress_overdue_since", ZoneInfo(shown.time_zone))
    assert lapse.startswith("2026-09-01")


def test_a_red_task_is_chased_until_done_escalated_after_k_and_remembered_across_restarts(
    stack: Stack,
) -> None:
    stack.import_ledger(ledger())
    config = parse_notify_config(
        {
            "interval_seconds": 1,
            "channels": [
                {
                    "url": "http://127.0.0.1:9/fgj",
                    "units": ["fgj"],
                    "events": ["red"],
                    "repeat": {"amount": 2, "unit": "hours"},
                },
                {"url": "http://127.0.0.1:9/boss", "escalate": True, "escalate_after": 2},
            ],
        }
    )
    send = Sender()
    clock = {"now": NOW}

    def restarted() -> ReminderLoop:
        app = stack.parts["tasks"].app
        return ReminderLoop(app, config, registry=CollectorRegistry(), send=send, clock=lambda: clock["now"])

    def told(result: Any) -> list[tuple[str, str, int]]:
        return [
            (s.delivery.unit, s.delivery.channel.url.rsplit("/", 1)[1], s.delivery.occurrence)
            for s in result.sent
        ]

    assert told(restarted().check_once()) == [("fgj", "fgj", 1), ("czj", "boss", 1)]
    clock["now"] = NOW + timedelta(hours=1)
    assert told(restarted().check_once()) == []
    clock["now"] = NOW + timedelta(hours=2)
    assert told(restarted().check_once()) == [("fgj", "fgj", 2)]
    clock["now"] = NOW + timedelta(hours=2, seconds=1)
    # fgj has been told twice: the supervisor hears of it now, once.
    assert told(restarted().check_once()) == [("fgj", "boss", 1)]
    assert [b.get("occurrence") for url, _, b in send.posts if url.endswith("/fgj")] == [1, 2]

    _, raw_tasks, _ = stack.stubs()

    tasks = TextStub(raw_tasks)
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10).task
    notes = [e.note for e in task.history if e.kind == "remind"]
    assert sum("第1次催办" in n for n in notes) == 1 and sum("第2次催办" in n for n in notes) == 1
    assert sum("已提请督办" in n for n in notes) == 2  # czj at once (no channel of its own), fgj after 2

    # Reported: no longer open, so nothing more is said however long it waits.
    tasks.AcceptTask(tasks_pb2.AcceptTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10)
    tasks.ReportTask(tasks_pb2.ReportTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10)
    clock["now"] = NOW + timedelta(days=3)
    assert all(s.delivery.fact.task != "R1" for s in restarted().check_once().sent)


@pytest.fixture
def hooks() -> Iterator[tuple[int, dict[str, list[Any]]]]:
    """A loopback receiver: its port, and every POSTed body by path (the query string left off)."""
    posts: dict[str, list[Any]] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                posts.setdefault(self.path.partition("?")[0], []).append(body)
            answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], posts
    server.shutdown()
    server.server_close()


def test_a_red_task_is_chased_every_minute_and_escalated_after_two_over_http(
    stack: Stack, hooks: tuple[int, dict[str, list[Any]]], tmp_path: Path
) -> None:
    """The reminders e2e test's minute, passed on the loop's clock: `--notify`'s file as written there,
    each reminder POSTed to a receiver on loopback (tests/e2e/test_reminders.py sees occurrence 1 live)."""
    port, posts = hooks
    hook = f"http://127.0.0.1:{port}"
    notify = tmp_path / "notify.toml"
    notify.write_text(
        "interval_seconds = 1\n"
        f'[[channels]]\nurl = "{hook}/fgj"\nformat = "json"\nunits = ["fgj"]\nevents = ["red"]\n'
        'repeat = { amount = 1, unit = "minutes" }\n'
        f'[[channels]]\nurl = "{hook}/robot/send?access_token=T0"\nformat = "dingtalk"\nunits = ["fgj"]\n'
        'events = ["red"]\nsecret = "SEC0123456789abcdef"\n'
        f'[[channels]]\nurl = "{hook}/boss"\nformat = "json"\nescalate = true\nescalate_after = 2\n',
        encoding="utf-8",
    )
    stack.import_ledger(ledger())
    clock = {"now": NOW}
    reminders = ReminderLoop(
        stack.parts["tasks"].app,
        load_notify_config(notify),
        registry=CollectorRegistry(),
        clock=lambda: clock["now"],
    )

    def told(path: str) -> list[tuple[str, int]]:
        return [(b["unit"], b["occurrence"]) for b in posts.get(path, [])]

    reminders.check_once()
    reminders.check_once()
    assert [(b["task"], b["unit"], b["event"], b["occurrence"]) for b in posts["/fgj"]] == [
        ("R1", "fgj", "red", 1)
    ]
    # czj has no channel of its own, so the supervisor hears of it at once; fgj only once told twice.
    assert told("/boss") == [("czj", 1)]
    clock["now"] = NOW + timedelta(seconds=59)
    reminders.check_once()
    assert told("/fgj") == [("fgj", 1)]

    clock["now"] = NOW + timedelta(seconds=61)
    reminders.check_once()
    reminders.check_once()
    reminders.check_once()
    assert told("/fgj") == [("fgj", 1), ("fgj", 2)]
    assert posts["/fgj"][1]["text"].startswith("【红色预警·第2次催办】发改局（fgj）")
    assert told("/boss") == [("czj", 1), ("fgj", 1)] and "已被催办2次" in posts["/boss"][1]["text"]
    # The DingTalk robot has no repeat: told once.
    assert len(posts["/robot/send"]) == 1

    _, raw_tasks, _ = stack.stubs()

    tasks = TextStub(raw_tasks)
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10).task
    notes = [e.note for e in task.history if e.kind == "remind"]
    assert sum(n.startswith("第1次催办") for n in notes) == 2  # json and DingTalk
    assert sum(n.startswith("第2次催办") for n in notes) == 1
    assert sum("提请督办" in n for n in notes) == 2


def ledger_with_people() -> bytes:
    """The ledger with 责任人: R1's has a mobile, Y1's has none."""
    people = [
        {
            "type": "person",
            "id": "p-zw",
            "name": "张伟",
            "unit": "fgj",
            "post": "副局长",
            "mobile": "13800001111",
        },
        {"type": "person", "id": "p-ln", "name": "李娜", "unit": "czj", "post": "科长"},
    ]
    responsible = {"R1": "p-zw", "Y1": "p-ln"}
    lines = [json.loads(line) for line in ledger().decode().splitlines()]
    units = [r for r in lines if r["type"] == "unit"]
    rest = [r | ({"responsible": responsible[r["id"]]} if r.get("id") in responsible else {}) for r in lines]
    records = units + people + [r for r in rest if r["type"] != "unit"]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def test_the_robots_mention_the_responsible_by_mobile_over_http(
    stack: Stack, hooks: tuple[int, dict[str, list[Any]]], tmp_path: Path
) -> None:
    """The mobile stored with the person reaches WeCom and DingTalk as a mention; a 责任人 without one is
    mentioned by neither, a co-unit's reminder names nobody, and the history names the person, not the
    number."""
    port, posts = hooks
    hook = f"http://127.0.0.1:{port}"
    notify = tmp_path / "notify.toml"
    notify.write_text(
        "interval_seconds = 1\n"
        f'[[channels]]\nurl = "{hook}/wecom?key=K"\nformat = "wecom"\nunits = ["department"]\n'
        f'[[channels]]\nurl = "{hook}/ding?access_token=T"\nformat = "dingtalk"\nunits = ["department"]\n',
        encoding="utf-8",
    )
    stack.import_ledger(ledger_with_people())
    reminders = ReminderLoop(
        stack.parts["tasks"].app, load_notify_config(notify), registry=CollectorRegistry(), clock=lambda: NOW
    )
    reminders.check_once()

    def of(path: str, task: str, unit: str) -> dict[str, Any]:
        (body,) = [
            b
            for b in posts[path]
            if f"任务 {task}" in json.dumps(b, ensure_ascii=False)
            and f"（{unit}）" in json.dumps(b, ensure_ascii=False)
        ]
        return body

    wecom = of("/wecom", "R1", "fgj")
    assert wecom["msgtype"] == "text" and wecom["text"]["mentioned_mobile_list"] == ["13800001111"]
    ding = of("/ding", "R1", "fgj")
    assert ding["at"]["atMobiles"] == ["13800001111"] and "@13800001111" in ding["markdown"]["text"]
    # czj helps on R1: its reminder mentions nobody; Y1's 责任人 李娜 has no mobile.
    for body in (
        of("/wecom", "R1", "czj"),
        of("/ding", "R1", "czj"),
        of("/wecom", "Y1", "czj"),
        of("/ding", "Y1", "czj"),
    ):
        assert "13800001111" not in json.dumps(body) and "mentioned_mobile_list" not in json.dumps(body)
        assert "at" not in body
    assert "**责任人**：李娜" in of("/ding", "Y1", "czj")["markdown"]["text"]

    _, tasks, _ = stack.stubs()
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="R1"), metadata=stack.metadata(), timeout=10).task
    notes = [e.note for e in task.history if e.kind == tasks_pb2.TASK_EVENT_KIND_REMIND]
    assert sum(n.endswith("@责任人张伟") for n in notes) == 2 and all("13800001111" not in n for n in notes)
