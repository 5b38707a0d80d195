"""延期申请 through the gateway on SQLite and PostgreSQL: filed by the lead unit, approved or refused by the
office, the approval the task's `extend` event with its new due instant and colour, in one transaction."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.tasks.v1 import tasks_pb2
from sqlalchemy import select

from services.common.db import Database
from services.tasks.storage.tables import extension_requests, task_events
from tests.conftest import Stack
from tests.integration.test_tasks_loop import jsonl
from tests.integration.test_year_views import text_of
from tests.tasks_text import text, typed

ZONE = ZoneInfo("Asia/Shanghai")


def tasks_stub(stack: Stack) -> Any:
    return stack.stubs()[1]


def create(stack: Stack, *, due: datetime, lead: str = "fgj", co: tuple[str, ...] = ()) -> Any:
    """A task assigned now, due at due, made by the office."""
    return text(
        tasks_stub(stack).CreateTask(
            typed(
                tasks_pb2.CreateTaskRequest,
                title="落实县长批示：冬季供暖保障",
                task_type="leader_directive",
                lead_unit=lead,
                co_units=list(co),
                due_at=due.isoformat(),
                assign_now=True,
            ),
            metadata=stack.metadata("office"),
            timeout=30,
        )
    ).task


def imported(stack: Stack, task_id: str, *, assigned: datetime, due: datetime) -> Any:
    """A task of the ledger, assigned and due when given, led by fgj."""
    line = {
        "type": "task",
        "id": task_id,
        "title": "全县冬季安全生产大检查",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": assigned.isoformat(),
        "due_at": due.isoformat(),
    }
    stack.import_ledger(jsonl([line]))
    return get(stack, task_id)


def file(
    stack: Stack, task: str, due: str, *, unit: str = "fgj", reason: str = "需协调省级审批", **kw: Any
) -> Any:
    role = kw.pop("role", "department")
    return text(
        tasks_stub(stack).FileExtension(
            tasks_pb2.FileExtensionRequest(task_id=task, due_at=due, reason=reason, **kw),
            metadata=stack.metadata(role, unit if role == "department" else None),
            timeout=30,
        )
    ).extension


def decide(stack: Stack, ext: str, decision: str, *, role: str = "office", **kw: Any) -> Any:
    metadata = stack.metadata(role, kw.pop("unit", None))
    return text(
        tasks_stub(stack).DecideExtension(
            tasks_pb2.DecideExtensionRequest(id=ext, decision=decision, **kw),
            metadata=metadata,
            timeout=30,
        )
    ).extension


def listed(stack: Stack, role: str = "office", caller: str | None = None, **filters: Any) -> list[Any]:
    reply = tasks_stub(stack).ListExtensions(
        typed(tasks_pb2.ListExtensionsRequest, **filters), metadata=stack.metadata(role, caller), timeout=30
    )
    return list(text(reply).extensions)


def get(stack: Stack, task: str, role: str = "office", unit: str | None = None) -> Any:
    return text(
        tasks_stub(stack)
        .GetTask(tasks_pb2.GetTaskRequest(id=task), metadata=stack.metadata(role, unit), timeout=30)
        .task
    )


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def soon(days: float) -> datetime:
    return (datetime.now(ZONE) + timedelta(days=days)).replace(microsecond=0)


def stored_requests(stack: Stack) -> list[Any]:
    db: Database = stack.parts["tasks"].db
    with db.read() as conn:
        return list(conn.execute(select(extension_requests)))


def test_an_approved_request_is_the_tasks_extend_event_with_its_new_due_and_colour(units: Stack) -> None:
    # Assigned 9 days ago, due in 1: yellow (past 75 % of its time).
    task = imported(units, "YQ-T1", assigned=soon(-9), due=soon(1))
    assert task.color == "yellow"
    asked = soon(10).date()
    made = file(units, task.id, f"{asked:%Y年%m月%d日}", reason="涉及省级审批，预计月底批复")
    assert (made.state, made.state_label, made.unit, made.task_id) == ("pending", "待审批", "fgj", task.id)
    assert made.asked_due == f"{asked.isoformat()}T23:59:59+08:00"
    assert made.due_before == task.due_at and made.id.startswith(f"YQ{datetime.now(ZONE).year}-")
    [filed] = made.timeline
    assert (filed.event, filed.actor_role, filed.actor_unit, filed.reason) == (
        "filed",
        "department",
        "fgj",
        "涉及省级审批，预计月底批复",
    )
    # Filing alone changes nothing of the task.
    assert get(units, task.id).due_at == task.due_at

    decided = decide(units, made.id, "批准")
    assert (decided.state, decided.granted_due, decided.decision_reason) == ("approved", made.asked_due, "")
    assert [(s.event, s.actor_role, s.outcome) for s in decided.timeline] == [
        ("filed", "department", ""),
        ("decided", "office", "approved"),
    ]
    after = get(units, task.id, "department", "fgj")
    assert after.due_at == made.asked_due and after.color == "blue"
    extend = [e for e in after.history if e.kind == "extend"]
    assert len(extend) == 1 and made.id in extend[0].note and "延期至" in extend[0].note
    db: Database = units.parts["tasks"].db
    with db.read() as conn:
        row = conn.execute(select(task_events.c.due_at).where(task_events.c.kind == "extend")).one()
    assert row.due_at == int(datetime.fromisoformat(made.asked_due).timestamp())
    # The department sees the same timeline on its side.
    [mine] = listed(units, "department", "fgj")
    assert mine.state == "approved" and len(mine.timeline) == 2


def test_the_office_may_grant_another_due_than_the_one_asked(units: Stack) -> None:
    task = create(units, due=soon(2))
    made = file(units, task.id, soon(30).strftime("%Y-%m-%d %H:%M"))
    granted = soon(12).replace(hour=18, minute=0, second=0)
    decided = decide(
        units, made.id, "approved", due_at=granted.strftime("%Y-%m-%d %H:%M"), reason="准予延至此时"
    )
    assert decided.granted_due == granted.isoformat()
    assert get(units, task.id).due_at == granted.isoformat()


def test_a_refusal_needs_its_reason_and_leaves_the_task_as_it_was(units: Stack) -> None:
    task = create(units, due=soon(3))
    made = file(units, task.id, soon(9).date().isoformat())
    error = refused(lambda: decide(units, made.id, "refused"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in (error.details() or "")
    decided = decide(units, made.id, "不予批准", reason="时限系县委确定，不能延后")
    assert (decided.state, decided.granted_due, decided.decision_reason) == (
        "refused",
        "",
        "时限系县委确定，不能延后",
    )
    again = get(units, task.id)
    assert again.due_at == task.due_at and not [e for e in again.history if e.kind == "extend"]
    # Decided is decided: the other decision is refused, the same one answered as it stands.
    assert refused(lambda: decide(units, made.id, "approved")).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert decide(units, made.id, "refused", reason="再次确认").state == "refused"
    # Once refused, the unit may ask again.
    assert file(units, task.id, soon(8).date().isoformat()).state == "pending"


def test_another_unit_neither_files_nor_sees_nor_decides(units: Stack) -> None:
    task = create(units, due=soon(3), co=("czj",))
    # A unit with no part in the task is told it does not exist; a co-unit that only the lead asks.
    assert refused(lambda: file(units, task.id, "2099-01-01", unit="sfj")).code() == grpc.StatusCode.NOT_FOUND
    error = refused(lambda: file(units, task.id, "2099-01-01", unit="czj"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    made = file(units, task.id, soon(20).date().isoformat())
    assert listed(units, "department", "czj") == [] and listed(units, "department", "sfj") == []
    # Asking for another unit's list is refused, not answered with one's own.
    error = refused(lambda: listed(units, "department", "czj", unit="fgj"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [e.id for e in listed(units, "department", "fgj")] == [made.id]
    for role, unit in (("department", "fgj"), ("supervisor", None), ("viewer", None)):
        error = refused(lambda r=role, u=unit: decide(units, made.id, "approved", role=r, unit=u))  # type: ignore[misc]
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [e.id for e in listed(units, "office", state="待审批")] == [made.id]


def test_no_request_after_the_due_instant_nor_on_a_reported_task(units: Stack) -> None:
    late = imported(units, "YQ-LATE", assigned=soon(-3), due=soon(-0.5))
    error = refused(lambda: file(units, late.id, soon(5).date().isoformat()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "延期须在现行办结时限" in (
        error.details() or ""
    )
    task = create(units, due=soon(4))
    for step in ("AcceptTask", "ReportTask"):
        getattr(tasks_stub(units), step)(
            getattr(tasks_pb2, step + "Request")(id=task.id, note="已办结"),
            metadata=units.metadata("department", "fgj"),
            timeout=30,
        )
    error = refused(lambda: file(units, task.id, soon(9).date().isoformat()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "尚未反馈" in (error.details() or "")
    assert stored_requests(units) == []


def test_bad_input_names_the_field_in_chinese_and_stores_nothing(units: Stack) -> None:
    task = create(units, due=soon(4))
    cases = [
        ({"due": "下个月"}, "due_at", "不是可识别的时间"),
        ({"due": soon(2).date().isoformat()}, "due_at", "须晚于现行时限"),
        ({"due": "2026-02-30"}, "due_at", "不是有效的日期"),
        ({"reason": "  "}, "reason", "原因"),
        ({"id": "../etc"}, "id", "字母、数字"),
    ]
    for change, name, words in cases:
        due = change.pop("due", soon(9).date().isoformat())
        error = refused(lambda due=due, change=change: file(units, task.id, due, **change))  # type: ignore[misc]
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, change
        assert name in (error.details() or "") and words in (error.details() or ""), error.details()
    assert stored_requests(units) == []


def test_the_same_request_id_files_and_decides_once(units: Stack) -> None:
    task = create(units, due=soon(4))
    first = file(units, task.id, soon(9).date().isoformat(), request_id="req-ext-1")
    second = file(units, task.id, soon(9).date().isoformat(), request_id="req-ext-1")
    assert first == second and len(stored_requests(units)) == 1
    # A second filing under another id while one is pending is refused, naming the pending one.
    error = refused(lambda: file(units, task.id, soon(9).date().isoformat(), request_id="req-ext-2"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and first.id in (error.details() or "")
    one = decide(units, first.id, "approved", request_id="req-dec-1")
    two = decide(units, first.id, "approved", request_id="req-dec-1")
    assert one == two
    history = get(units, task.id).history
    assert sum(1 for e in history if e.kind == "extend") == 1


def test_the_bulletin_lists_the_periods_requests_with_their_decisions(units: Stack) -> None:
    approved = create(units, due=soon(2))
    waiting = create(units, due=soon(3))
    granted = decide(units, file(units, approved.id, soon(9).date().isoformat()).id, "approved")
    file(units, waiting.id, soon(10).date().isoformat())
    gateway, _, _ = units.stubs()
    reply = gateway.GetBulletin(
        gateway_pb2.GetBulletinRequest(period=f"{datetime.now(ZONE):%Y-%m}"),
        metadata=units.metadata("office"),
        timeout=60,
    )
    text = text_of(reply.docx)
    assert "共有2项任务申请延期" in text and approved.id in text and waiting.id in text
    asked = datetime.fromisoformat(granted.granted_due)
    assert f"已批准，延至{asked.year}年{asked.month}月{asked.day}日" in text and "待审批" in text


def test_two_approvals_at_once_extend_the_task_once(units: Stack) -> None:
    task = create(units, due=soon(4))
    made = file(units, task.id, soon(12).date().isoformat())
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def approve(n: int) -> None:
        barrier.wait()
        results.append(decide(units, made.id, "approved", request_id=f"at-once-{n}").state)

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["approved", "approved"]
    assert sum(1 for e in get(units, task.id).history if e.kind == "extend") == 1
