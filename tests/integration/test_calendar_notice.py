"""The holiday notice through the gateway: import, the calendar in force, computed dues moved, runs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.tasks.v1 import tasks_pb2
from prometheus_client import CollectorRegistry

from services.cli.commands.serving import uncovered_years
from services.cli.main import main, parser
from services.common.protoenum import enum_code
from services.common.result_wire import result_to_json_dict
from services.common.scheme import load_scheme
from services.common.wiretime import date_of
from services.tasks.__main__ import create as create_tasks
from services.tasks.metrics import CalendarCollector
from tests.conftest import Stack, run_time
from tests.integration.test_records import jsonl
from tests.integration.test_runs import LEDGER_2027, create_run, publish, units_of
from tests.tasks_text import TextStub

NOTICE_2027 = Path(__file__).resolve().parents[1] / "data" / "notices" / "example-2027.txt"

# Assigned on Thursday 2026-12-24: seven working days. Without a 2027 calendar, Friday 2027-01-01
# counts as one and the seventh is Monday 01-04; under the notice (元旦 1月1日至3日) it is Tuesday 01-05.
LEDGER: list[dict[str, Any]] = [
    *(line for line in LEDGER_2027 if line["type"] == "unit"),
    {
        "type": "task",
        "id": "D1",
        "title": "年终督办件",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2026-12-24T10:00:00+08:00",
    },
    {
        "type": "task",
        "id": "D2",
        "title": "限期报送",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2026-12-24T10:00:00+08:00",
        "due_at": "2027-01-04T18:00:00+08:00",
    },
]
BEFORE = "2027-01-04T23:59:59+08:00"
AFTER = "2027-01-05T23:59:59+08:00"


def _task(stack: Stack, task_id: str) -> Any:
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    return tasks.GetTask(tasks_pb2.GetTaskRequest(id=task_id), metadata=stack.metadata(), timeout=30).task


def _import(stack: Stack, text: str, role: str = "office", unit: str | None = None, year: int = 0) -> Any:
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    return tasks.ImportHolidayNotice(
        tasks_pb2.ImportHolidayNoticeRequest(text=text, year=year),
        metadata=stack.metadata(role, unit),
        timeout=30,
    )


def _iso(days: Any) -> list[str]:
    """google.type.Date values as ISO dates."""
    return [d.isoformat() for d in map(date_of, days) if d is not None]


def _source(shown: Any) -> str:
    """Where a calendar comes from, as its code (notice, statutory, scheme, weekdays)."""
    return enum_code(tasks_pb2.CalendarSource.DESCRIPTOR, shown.source)


def _calendar(stack: Stack, year: int) -> Any:
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    return tasks.GetCalendar(
        tasks_pb2.GetCalendarRequest(year=year), metadata=stack.metadata("viewer"), timeout=30
    )


def _year_has_begun(stack: Stack) -> None:
    # A run for 2027 scores what is due by its cutoff; the services' clocks are moved into 2027.
    end_of_2027 = int(datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC).timestamp())
    stack.parts["scoring"].app.clock = lambda: end_of_2027


def test_a_notice_moves_a_computed_due_across_the_year_boundary(stack: Stack) -> None:
    stack.import_ledger(jsonl(LEDGER))
    assert _task(stack, "D1").due_at == BEFORE
    assert _source(_calendar(stack, 2027)) == "weekdays"
    _year_has_begun(stack)
    before = create_run(stack, year=2027)
    assert 2027 in result_to_json_dict(before.result)["calendar_warnings"]

    done = _import(stack, NOTICE_2027.read_text(encoding="utf-8"))
    assert (done.year, done.moved, done.replaced, done.unchanged) == (2027, 1, False, False)
    assert _iso(done.holidays)[:3] == ["2027-01-01", "2027-01-02", "2027-01-03"]
    assert "2027-02-14" in _iso(done.workdays)

    moved = _task(stack, "D1")
    assert moved.due_at == AFTER
    (entry,) = [e for e in moved.history if e.kind == "due_move"]
    assert "2027-01-04 23:59:59" in entry.note and "2027-01-05 23:59:59" in entry.note
    assert "国务院节假日通知（2027年）导入" in entry.note
    # A due instant the creator gave is kept as given.
    given = _task(stack, "D2")
    assert given.due_at == "2027-01-04T18:00:00+08:00"
    assert not [e for e in given.history if e.kind == "due_move"]

    shown = _calendar(stack, 2027)
    assert _source(shown) == "notice" and shown.notice_sha256 == done.sha256
    assert _iso(shown.holidays)[:3] == ["2027-01-01", "2027-01-02", "2027-01-03"]
    assert _iso(shown.workdays) == [
        "2027-02-14",
        "2027-02-20",
        "2027-04-25",
        "2027-05-08",
        "2027-09-26",
        "2027-10-09",
    ]

    after = create_run(stack, year=2027)
    document = result_to_json_dict(after.result)
    assert 2027 not in document["calendar_warnings"]
    assert {"year": 2027, "source": "notice", "notice_sha256": done.sha256} in document["calendar"]
    assert after.input_digest != before.input_digest
    lines = {t["task"]: t for t in units_of(after)["fgj"]["breakdown"]["tasks"]}
    assert lines["D1"]["due_at"] == AFTER

    again = _import(stack, NOTICE_2027.read_text(encoding="utf-8"))
    assert (again.unchanged, again.moved) == (True, 0)
    assert len([e for e in _task(stack, "D1").history if e.kind == "due_move"]) == 1
    assert create_run(stack, year=2027).input_digest == after.input_digest

    # 公示 on Thursday 2027-09-30: five working days of appeal under the notice skip 国庆 (10月1日至7日)
    # and count the make-up Saturday 10月9日, so the window closes on Wednesday 10-13, not 10-07.
    autumn = int(datetime(2027, 9, 30, 2, 0, tzinfo=UTC).timestamp())
    stack.parts["scoring"].app.clock = lambda: autumn
    published = publish(stack, create_run(stack, year=2027).id)
    assert run_time(published, "appeal_deadline") == "2027-10-13T23:59:59+08:00"


def test_an_unreadable_notice_or_a_department_stores_nothing(stack: Stack) -> None:
    stack.import_ledger(jsonl(LEDGER))
    broken = (
        "国务院办公厅关于2027年部分节假日安排的通知\n一、元旦：1月1日放假。\n二、春节：2月6日（周四）放假。\n"
    )
    with pytest.raises(grpc.RpcError) as refused:
        _import(stack, broken)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "第3行" in (refused.value.details() or "")
    with pytest.raises(grpc.RpcError) as denied:
        _import(stack, NOTICE_2027.read_text(encoding="utf-8"), role="department", unit="fgj")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _source(_calendar(stack, 2027)) == "weekdays"
    assert _task(stack, "D1").due_at == BEFORE


def test_a_restart_under_other_limits_moves_open_computed_dues(stack: Stack, tmp_path: Path) -> None:
    stack.import_ledger(jsonl(LEDGER))
    text = stack.scheme.text.replace(
        'limit = { amount = 7, unit = "working_days" }', 'limit = { amount = 8, unit = "working_days" }'
    )
    assert text != stack.scheme.text
    longer = load_scheme(text)
    url = stack.parts["tasks"].db.url
    again = create_tasks(address="127.0.0.1:0", db_url=url, scheme=longer, keys=stack.keys, tls=None)
    try:
        row = again.app.get_task(actor=_office(), task_id="D1")
        assert row.due_at == "2027-01-05T23:59:59+08:00"
        (entry,) = [e for e in row.history if e.kind == "due_move"]
        assert f"考核方案变更（{longer.id}）" in entry.note
        assert again.app.get_task(actor=_office(), task_id="D2").due_at == "2027-01-04T18:00:00+08:00"
    finally:
        again.server.stop(0).wait()
        again.db.dispose()


def _office() -> Any:
    from services.common.auth import make_user_identity

    return make_user_identity(role="office", unit=None, subject="test")


def test_the_gauge_says_whether_next_year_is_covered(stack: Stack) -> None:
    app = stack.parts["tasks"].app
    registry = CollectorRegistry()
    registry.register(CalendarCollector(app, clock=lambda: datetime(2026, 11, 2, tzinfo=UTC)))
    assert registry.get_sample_value("kaohe_calendar_covered", {"year": "2026", "when": "this"}) == 1
    assert registry.get_sample_value("kaohe_calendar_covered", {"year": "2027", "when": "next"}) == 0
    _import(stack, NOTICE_2027.read_text(encoding="utf-8"))
    assert registry.get_sample_value("kaohe_calendar_covered", {"year": "2027", "when": "next"}) == 1
    # Before 1 November (Beijing time) the next year is not yet asked for.
    october = CollectorRegistry()
    october.register(CalendarCollector(app, clock=lambda: datetime(2026, 10, 31, 15, 59, tzinfo=UTC)))
    assert october.get_sample_value("kaohe_calendar_covered", {"year": "2027", "when": "next"}) is None
    assert october.get_sample_value("kaohe_calendar_covered", {"year": "2026", "when": "this"}) == 1


def test_status_names_a_year_without_a_calendar(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAOHE_TLS_CA", str(stack.tls.ca))
    args = parser().parse_args(["status", "--gateway", stack.gateway_addr, "--token", stack.token("viewer")])
    assert uncovered_years(args, today=date(2026, 10, 31)) == []
    assert uncovered_years(args, today=date(2026, 11, 1)) == [2027]
    _import(stack, NOTICE_2027.read_text(encoding="utf-8"))
    assert uncovered_years(args, today=date(2026, 11, 1)) == []


def test_the_cli_imports_and_shows_a_notice(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("KAOHE_TLS_CA", str(stack.tls.ca))
    office = ["--gateway", stack.gateway_addr, "--token", stack.token("office")]
    assert main(["calendar", "import", str(NOTICE_2027), *office]) == 0
    out = capsys.readouterr().out
    assert "已导入 2027 年的节假日通知" in out
    assert "2027年1月1日（周五）" in out and "2027年2月14日（周日）" in out
    assert main(["calendar", "show", "--year", "2027", "--json", *office]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"year", "source", "holidays", "workdays"}
    assert (shown["year"], shown["source"]) == (2027, "notice")
    assert shown["holidays"][:3] == ["2027-01-01", "2027-01-02", "2027-01-03"]
    assert main(["calendar", "show", "--year", "2028", *office]) == 0
    assert "请用 kaohe calendar import" in capsys.readouterr().out
    broken = tmp_path / "2028.txt"
    broken.write_text(
        "国务院办公厅关于2028年部分节假日安排的通知\n一、元旦：1月1日（周四）放假。\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit) as exited:
        main(["calendar", "import", str(broken), *office])
    assert exited.value.code == 1
    refused = capsys.readouterr().err
    assert "第2行" in refused and "1月1日是周六，不是周四" in refused
    assert main(["calendar", "show", "--year", "2028", "--json", *office]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "weekdays"
