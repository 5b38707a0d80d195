"""People, levels and parts through the gateway: persons and scoping, a 乡镇's reach, 任务分解's rule."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from tests.conftest import Stack
from tests.integration.test_tasks_ledger import names, refuse
from tests.tasks_text import TextStub, typed

AT = "2025-07-01T09:00:00+08:00"
LEDGER: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {"type": "unit", "id": "xz1", "name": "城关镇", "category": "township"},
    {"type": "unit", "id": "xz2", "name": "大安镇", "category": "township"},
    {"type": "unit", "id": "c11", "name": "城关镇东村", "category": "village", "parent": "xz1"},
    {"type": "unit", "id": "c21", "name": "大安镇西村", "category": "village", "parent": "xz2"},
    {"type": "person", "id": "p-fgj", "name": "张三", "unit": "fgj", "post": "局长", "mobile": "13800000001"},
    {"type": "person", "id": "p-czj", "name": "李四", "unit": "czj", "post": "科长", "mobile": "13800000002"},
    {"type": "person", "id": "p-ld", "name": "王五", "unit": "fgj", "post": "副县长", "leader": True},
    {
        "type": "person",
        "id": "p-c11",
        "name": "赵六",
        "unit": "c11",
        "post": "村支书",
        "mobile": "13900000011",
    },
    {
        "type": "task",
        "id": "P",
        "title": "人居环境整治",
        "task_type": "leader_directive",
        "lead_unit": "xz1",
        "assigned_at": AT,
        "leader": "p-ld",
    },
    {
        "type": "task",
        "id": "P.1",
        "title": "东村整治",
        "task_type": "leader_directive",
        "lead_unit": "c11",
        "assigned_at": AT,
        "responsible": "p-c11",
        "parent": "P",
    },
    {
        "type": "task",
        "id": "F1",
        "title": "项目申报",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": AT,
        "responsible": "p-fgj",
        "leader": "p-ld",
    },
    {
        "type": "task",
        "id": "X2",
        "title": "西村事项",
        "task_type": "leader_directive",
        "lead_unit": "c21",
        "assigned_at": AT,
    },
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def event(task: str, kind: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"type": "task_event", "task": task, "kind": kind, "at": at, **fields}


@pytest.fixture
def county(stack: Stack) -> Stack:
    reply = stack.import_ledger(jsonl(LEDGER))
    assert dict(reply.created) == {"unit": 6, "person": 4, "task": 4}
    return stack


@pytest.fixture(scope="module")
def county_once(module_stack: Stack) -> Stack:
    """county, once for the module's refused files: each checks that the persons are as they were."""
    reply = module_stack.import_ledger(jsonl(LEDGER))
    assert dict(reply.created) == {"unit": 6, "person": 4, "task": 4}
    return module_stack


def tasks_stub(stack: Stack) -> Any:
    return TextStub(stack.stubs()[1])


def persons(stack: Stack, role: str, own: str | None, **request: Any) -> list[Any]:
    """ListPersons as role of unit own."""
    reply = tasks_stub(stack).ListPersons(
        tasks_pb2.ListPersonsRequest(**request), metadata=stack.metadata(role, own), timeout=10
    )
    return list(reply.persons)


def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    code: grpc.StatusCode = refused.value.code()
    return code


def test_persons_and_parents_are_stored_and_a_second_import_changes_nothing(county: Stack) -> None:
    again = county.import_ledger(jsonl(LEDGER))
    assert dict(again.created) == {}
    assert dict(again.unchanged) == {"unit": 6, "person": 4, "task": 4}
    units = tasks_stub(county).ListUnits(tasks_pb2.ListUnitsRequest(), metadata=county.metadata(), timeout=10)
    assert {u.id: u.parent for u in units.units} == {
        "c11": "xz1",
        "c21": "xz2",
        "czj": "",
        "fgj": "",
        "xz1": "",
        "xz2": "",
    }
    task = (
        tasks_stub(county)
        .GetTask(tasks_pb2.GetTaskRequest(id="F1"), metadata=county.metadata(), timeout=10)
        .task
    )
    assert (task.responsible, task.responsible_name, task.leader, task.leader_name) == (
        "p-fgj",
        "张三",
        "p-ld",
        "王五",
    )
    parent = (
        tasks_stub(county)
        .GetTask(tasks_pb2.GetTaskRequest(id="P"), metadata=county.metadata(), timeout=10)
        .task
    )
    assert [(p.id, p.lead_unit, p.state) for p in parent.parts] == [("P.1", "c11", "assigned")]


def test_the_office_sees_every_person_with_mobiles_and_their_load(county: Stack) -> None:
    found = {p.id: p for p in persons(county, "office", None)}
    assert set(found) == {"p-fgj", "p-czj", "p-ld", "p-c11"}
    assert found["p-fgj"].mobile == "13800000001"
    assert found["p-ld"].leader and found["p-ld"].open == 2  # 包保 P and F1
    assert found["p-fgj"].open == 1
    one = persons(county, "office", None, id="p-ld")
    assert sorted(t.id for t in one[0].tasks) == ["F1", "P"]


def test_a_department_never_sees_another_units_people(county: Stack) -> None:
    own = persons(county, "department", "czj")
    assert [(p.id, p.mobile) for p in own] == [("p-czj", "13800000002")]
    assert (
        code_of(lambda: persons(county, "department", "czj", unit="fgj")) == grpc.StatusCode.PERMISSION_DENIED
    )
    assert code_of(lambda: persons(county, "department", "czj", id="p-fgj")) == grpc.StatusCode.NOT_FOUND
    # Neither a supervisor nor a viewer is given a mobile number.
    assert all(p.mobile == "" for p in persons(county, "viewer", None))
    assert all(p.mobile == "" for p in persons(county, "supervisor", None))


def test_a_township_sees_its_own_villages_and_no_other_townships(county: Stack) -> None:
    md = county.metadata("department", "xz1")
    stub = tasks_stub(county)
    # Its own 村: the people (without their mobiles: not its own unit), the tasks, one task.
    assert [(p.id, p.mobile) for p in persons(county, "department", "xz1", unit="c11")] == [("p-c11", "")]
    listed = stub.ListTasks(tasks_pb2.ListTasksRequest(unit="c11"), metadata=md, timeout=10)
    assert [t.id for t in listed.tasks] == ["P.1"]
    assert stub.GetTask(tasks_pb2.GetTaskRequest(id="P.1"), metadata=md, timeout=10).task.lead_unit == "c11"
    # Another 乡镇's 村: refused, and its task does not exist for it.
    assert (
        code_of(lambda: persons(county, "department", "xz1", unit="c21")) == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        code_of(lambda: stub.ListTasks(tasks_pb2.ListTasksRequest(unit="c21"), metadata=md, timeout=10))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        code_of(lambda: stub.GetTask(tasks_pb2.GetTaskRequest(id="X2"), metadata=md, timeout=10).task)
        == grpc.StatusCode.NOT_FOUND
    )
    # The other way round: the other 乡镇 reaches its own 村 and not this one's.
    other = county.metadata("department", "xz2")
    assert [
        t.id for t in stub.ListTasks(tasks_pb2.ListTasksRequest(unit="c21"), metadata=other, timeout=10).tasks
    ] == ["X2"]
    assert (
        code_of(lambda: stub.GetTask(tasks_pb2.GetTaskRequest(id="P.1"), metadata=other, timeout=10).task)
        == grpc.StatusCode.NOT_FOUND
    )
    # A 村 does not reach up to its 乡镇's other work, nor a county department into a 乡镇.
    village = county.metadata("department", "c11")
    assert (
        code_of(lambda: stub.ListTasks(tasks_pb2.ListTasksRequest(unit="xz1"), metadata=village, timeout=10))
        == grpc.StatusCode.PERMISSION_DENIED
    )


def test_a_township_dispatches_to_its_own_villages_only(county: Stack) -> None:
    stub = tasks_stub(county)
    md = county.metadata("department", "xz1")

    def create(lead: str, who: Any = md) -> Any:
        request = typed(
            tasks_pb2.CreateTaskRequest,
            title="入户走访",
            task_type="leader_directive",
            lead_unit=lead,
            assign_now=True,
        )
        return stub.CreateTask(request, metadata=who, timeout=10).task

    made = create("c11")
    assert (made.lead_unit, made.state) == ("c11", "assigned")
    assert code_of(lambda: create("c21")) == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(lambda: create("fgj")) == grpc.StatusCode.PERMISSION_DENIED
    assert (
        code_of(lambda: create("c11", county.metadata("department", "xz2")))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    # The 村 reports, the 乡镇 closes; the other 乡镇 may not.
    village = county.metadata("department", "c11")
    stub.AcceptTask(tasks_pb2.AcceptTaskRequest(id=made.id), metadata=village, timeout=10)
    stub.ReportTask(tasks_pb2.ReportTaskRequest(id=made.id), metadata=village, timeout=10)
    other = county.metadata("department", "xz2")
    assert (
        code_of(
            lambda: stub.CloseTask(tasks_pb2.CloseTaskRequest(id=made.id), metadata=other, timeout=10).task
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    stub.VerifyTask(tasks_pb2.VerifyTaskRequest(id=made.id), metadata=md, timeout=10)
    closed = stub.CloseTask(tasks_pb2.CloseTaskRequest(id=made.id), metadata=md, timeout=10).task
    assert closed.state == "closed"


def test_a_task_with_parts_is_reported_and_closed_only_after_them(county: Stack) -> None:
    stub = tasks_stub(county)
    office = county.metadata()
    township = county.metadata("department", "xz1")
    village = county.metadata("department", "c11")

    def act(method: str, task: str, md: Any) -> Any:
        request = getattr(tasks_pb2, method + "Request")(id=task, note="x")
        return getattr(stub, method)(request, metadata=md, timeout=10).task

    act("AcceptTask", "P", township)
    with pytest.raises(grpc.RpcError) as refused:
        act("ReportTask", "P", township)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "P.1" in (refused.value.details() or "")
    act("AcceptTask", "P.1", village)
    act("ReportTask", "P.1", village)
    act("ReportTask", "P", township)
    act("VerifyTask", "P", office)
    assert code_of(lambda: act("CloseTask", "P", office)) == grpc.StatusCode.FAILED_PRECONDITION
    act("VerifyTask", "P.1", township)
    act("CloseTask", "P.1", township)
    assert act("CloseTask", "P", office).state == "closed"


def test_the_import_refuses_a_parents_report_or_close_before_its_parts(county: Stack) -> None:
    early = [event("P", "report", "2025-07-02T09:00:00+08:00")]
    count, found = refuse(county, early)
    assert names(found, count, "kind", "P.1"), found
    in_order = [
        event("P.1", "report", "2025-07-02T09:00:00+08:00"),
        event("P", "report", "2025-07-03T09:00:00+08:00"),
        event("P", "close", "2025-07-04T09:00:00+08:00"),
    ]
    count, found = refuse(county, in_order)
    assert names(found, count, "kind", "P.1"), found
    done = [
        event("P.1", "report", "2025-07-02T09:00:00+08:00"),
        event("P.1", "close", "2025-07-02T12:00:00+08:00"),
        event("P", "report", "2025-07-03T09:00:00+08:00"),
        event("P", "close", "2025-07-04T09:00:00+08:00"),
    ]
    assert dict(county.import_ledger(jsonl(done)).created) == {"task_event": 4}
    # A part added to a task already closed is refused.
    late = {**LEDGER[11], "id": "P.2"}
    count, found = refuse(county, [late])
    assert names(found, count, "parent", "P"), found


PERSON = {"type": "person", "id": "p-new", "name": "新人", "unit": "czj", "post": "干部"}
BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "unit_parent_unknown": (
        {"type": "unit", "id": "c99", "name": "某村", "category": "village", "parent": "nowhere"},
        "parent",
        "不存在",
    ),
    "unit_parent_itself": (
        {"type": "unit", "id": "c98", "name": "某村", "category": "village", "parent": "c98"},
        "parent",
        "自身",
    ),
    "unit_parent_changed": ({**LEDGER[4], "parent": "xz2"}, "parent", "已有代码的记录不能修改"),
    "person_unit_unknown": ({**PERSON, "unit": "nobody"}, "unit", "不存在"),
    "person_mobile_short": ({**PERSON, "mobile": "1380000"}, "mobile", "11 位"),
    "person_mobile_number": ({**PERSON, "mobile": 13800000009}, "mobile", "11 位"),
    "person_leader_text": ({**PERSON, "leader": "yes"}, "leader", "true"),
    "person_post_missing": ({k: v for k, v in PERSON.items() if k != "post"}, "post", "必须有此项"),
    "person_changed": ({**LEDGER[6], "post": "副局长"}, "id", "已有代码的记录不能修改"),
    "responsible_unknown": ({**LEDGER[12], "id": "F9", "responsible": "nobody"}, "responsible", "不存在"),
    "responsible_other_unit": ({**LEDGER[12], "id": "F9", "responsible": "p-czj"}, "responsible", "牵头单位"),
    "leader_not_a_leader": ({**LEDGER[12], "id": "F9", "leader": "p-fgj"}, "leader", "leader"),
    "parent_unknown": ({**LEDGER[12], "id": "F9", "parent": "NOPE"}, "parent", "不存在"),
    "parent_itself": ({**LEDGER[12], "id": "F9", "parent": "F9"}, "parent", "自身"),
    "parent_changed": ({**LEDGER[12], "parent": "P"}, "id", "已按其他值记录"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_person_unit_or_task_line_refuses_the_file(county_once: Stack, case: str) -> None:
    record, field, words = BAD[case]
    before = persons(county_once, "office", None)
    count, found = refuse(county_once, [PERSON, record])
    assert names(found, count, field, words), found
    # The good line before the bad one is not stored either.
    assert persons(county_once, "office", None) == before


def test_a_township_dispatches_a_part_with_its_responsible_person(county: Stack) -> None:
    stub = tasks_stub(county)
    md = county.metadata("department", "xz1")

    def create(**fields: Any) -> Any:
        request = typed(
            tasks_pb2.CreateTaskRequest,
            title="东村二期",
            task_type="leader_directive",
            lead_unit="c11",
            assign_now=True,
            **fields,
        )
        return stub.CreateTask(request, metadata=md, timeout=10).task

    part = create(parent="P", responsible="p-c11")
    assert (part.parent, part.responsible) == ("P", "p-c11")
    parent = stub.GetTask(tasks_pb2.GetTaskRequest(id="P"), metadata=md, timeout=10).task
    assert sorted(p.id for p in parent.parts) == sorted(["P.1", part.id])
    assert code_of(lambda: create(parent="X2")) == grpc.StatusCode.INVALID_ARGUMENT  # another 乡镇's
    assert code_of(lambda: create(responsible="p-fgj")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: create(leader="p-fgj")) == grpc.StatusCode.INVALID_ARGUMENT
    # The same task stored through the import compares equal: its record carries its people and parent.
    stored = {
        **LEDGER[11],
        "id": part.id,
        "title": "东村二期",
        "assigned_at": part.assigned_at,
    }
    again = county.import_ledger(jsonl([stored]))
    assert dict(again.unchanged) == {"task": 1}, again


def test_a_townships_overdue_trend_holds_its_villages_and_no_other_townships(county: Stack) -> None:
    """GetOverdueTrend: a 乡镇 sees its own line and its 村's, never another 乡镇's; both ways."""
    stub = tasks_stub(county)

    def lines(own: str | None, role: str = "department", **request: Any) -> list[str]:
        reply = stub.GetOverdueTrend(
            tasks_pb2.GetOverdueTrendRequest(year=2025, **request),
            metadata=county.metadata(role, own),
            timeout=30,
        )
        return [s.unit for s in reply.units]

    assert lines("xz1") == ["c11", "xz1"]
    assert lines("xz2") == ["c21", "xz2"]
    # One of its own 村 by name; another 乡镇's 村, or that 乡镇 itself, refused.
    assert lines("xz1", unit="c11") == ["c11"]
    for own, foreign in (("xz1", "c21"), ("xz1", "xz2"), ("xz2", "c11"), ("xz2", "xz1")):
        refused = code_of(lambda own=own, foreign=foreign: lines(own, unit=foreign))
        assert refused == grpc.StatusCode.PERMISSION_DENIED
    # A 村 sees its own line only, and does not reach up to its 乡镇; a county department only its own.
    assert lines("c11") == ["c11"]
    assert code_of(lambda: lines("c11", unit="xz1")) == grpc.StatusCode.PERMISSION_DENIED
    assert lines("fgj") == ["fgj"]
    assert lines(None, "office") == ["c11", "c21", "czj", "fgj", "xz1", "xz2"]


def test_a_townships_overview_and_dashboard_hold_its_villages_and_no_other_townships(county: Stack) -> None:
    """GetOverview and GetDashboard: a 乡镇 its own line and its 村's after it; both ways."""
    gateway, _, scoring = county.stubs()

    def overview(own: str | None, role: str = "department") -> list[Any]:
        request = gateway_pb2.GetOverviewRequest(year=2025)
        return list(gateway.GetOverview(request, metadata=county.metadata(role, own), timeout=60).units)

    def dashboard(own: str | None, unit: str = "", role: str = "department") -> Any:
        request = gateway_pb2.GetDashboardRequest(unit=unit, year=2025)
        return gateway.GetDashboard(request, metadata=county.metadata(role, own), timeout=60)

    office = {u.unit: u for u in overview(None, "office")}
    assert set(office) == {"c11", "c21", "czj", "fgj", "xz1", "xz2"}  # the office sees all
    # Each 乡镇's lines are the office's lines of it and its 村, never the other 乡镇's.
    for township, village in (("xz1", "c11"), ("xz2", "c21")):
        assert overview(township) == [office[township], office[village]]
        board = dashboard(township)
        assert (board.standing, list(board.below)) == (office[township], [office[village]])
        assert [i.task for i in board.open_items] == (["P"] if township == "xz1" else [])
        # One of its 村 by name: that 村's dashboard.
        one = dashboard(township, village)
        assert (one.standing, list(one.below)) == (office[village], [])
    # The 村's line is its own: P.1 open, and nothing of its 乡镇's P counted in it.
    assert (office["c11"].open_blue + office["c11"].open_yellow + office["c11"].open_red) == 1
    # Another 乡镇, its 村, or a county department: refused, at the gateway's view and at scoring.
    for own, foreign in (("xz1", "c21"), ("xz1", "xz2"), ("xz2", "c11"), ("xz1", "fgj")):
        assert (
            code_of(lambda own=own, foreign=foreign: dashboard(own, foreign))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        preview = scoring_pb2.PreviewAssessmentRequest(year=2025, unit=foreign)
        assert (
            code_of(
                lambda own=own, preview=preview: scoring.PreviewAssessment(
                    preview, metadata=county.metadata("department", own), timeout=60
                )
            )
            == grpc.StatusCode.PERMISSION_DENIED
        )
    # A county department sees only itself; a 村 only itself, and does not reach up to its 乡镇.
    assert overview("fgj") == [office["fgj"]]
    assert (dashboard("fgj").standing, list(dashboard("fgj").below)) == (office["fgj"], [])
    assert overview("c11") == [office["c11"]]
    assert list(dashboard("c11").below) == []
    assert code_of(lambda: dashboard("c11", "xz1")) == grpc.StatusCode.PERMISSION_DENIED
    # The office's dashboard of a 乡镇 is that 乡镇's (it reads the 村 in the overview).
    assert (dashboard(None, "xz1", "office").standing, list(dashboard(None, "xz1", "office").below)) == (
        office["xz1"],
        [],
    )
