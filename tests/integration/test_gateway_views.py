"""The gateway: its authorisation table, the overview, dashboard and ranking, partial failure, the export."""

from __future__ import annotations

import io
import json
from typing import Any

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from openpyxl import load_workbook

from services.common.auth import ROLES
from services.common.policy import INTERNAL_POLICY
from services.common.result_wire import result_to_json_dict
from services.gateway.policy import POLICY
from tests.conftest import Stack, run_state
from tests.integration.test_records import refused

SERVICES = [
    module.DESCRIPTOR.services_by_name[name]
    for module, name in (
        (gateway_pb2, "GatewayService"),
        (tasks_pb2, "TasksService"),
        (scoring_pb2, "ScoringService"),
    )
]
METHODS = {
    f"/{service.full_name}/{method.name}": method for service in SERVICES for method in service.methods
}
UNIT_OF = {"department": "fgj"}


def audit_lines(stack: Stack) -> list[dict[str, Any]]:
    if not stack.audit_path.exists():
        return []
    return [json.loads(line) for line in stack.audit_path.read_text(encoding="utf-8").splitlines()]


def call_empty(stack: Stack, path: str, role: str) -> grpc.StatusCode:
    """Calls a method through the gateway with an empty request as role; the status it ends with."""
    method = METHODS[path]
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    shape = ("stream_" if method.client_streaming else "unary_") + (
        "stream" if method.server_streaming else "unary"
    )
    call = getattr(stack.channel(), shape)(
        path,
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    request: Any = iter([request_class()]) if method.client_streaming else request_class()
    try:
        reply = call(request, metadata=stack.metadata(role, UNIT_OF.get(role)), timeout=60)
        if method.server_streaming:
            list(reply)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_every_method_of_the_three_services_is_in_the_table() -> None:
    assert set(POLICY) == set(METHODS)
    assert all(rule.roles <= set(ROLES) for rule in POLICY.values())
    # The internal methods serve the services, never a person.
    # None is left in the gateway's table: every internal method is in an *InternalService.
    assert not {p for p, r in POLICY.items() if not r.roles}
    # The internal services' methods are in no table the gateway reads: it does not even serve them.
    paths = {
        f"/{service.full_name}/{method.name}"
        for module, name in ((tasks_pb2, "TasksInternalService"), (scoring_pb2, "ScoringInternalService"))
        for service in [module.DESCRIPTOR.services_by_name[name]]
        for method in service.methods
    }
    assert paths == set(INTERNAL_POLICY) and not paths & set(POLICY)


def test_every_role_gets_exactly_what_the_table_says(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    run = (
        stack.stubs()[2]
        .CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60)
        .run
    )
    checked = 0
    for path, rule in sorted(POLICY.items()):
        for role in ROLES:
            before = audit_lines(stack)
            code = call_empty(stack, path, role)
            new = audit_lines(stack)[len(before) :]
            denied = [e for e in new if (e["method"], e["role"], e["outcome"]) == (path, role, "denied")]
            if role in rule.roles:
                assert code != grpc.StatusCode.PERMISSION_DENIED, (path, role)
                assert code != grpc.StatusCode.UNIMPLEMENTED, (path, role)
                assert denied == [], (path, role, denied)
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (path, role, code)
                assert len(denied) == 1, (path, role, new)
                assert denied[0]["subject"] and path.rsplit("/", 1)[-1] in denied[0]["detail"]
            checked += 1
    assert checked == len(METHODS) * len(ROLES)
    # Nothing the refused calls carried was done.
    runs = (
        stack.stubs()[2].ListRuns(scoring_pb2.ListRunsRequest(), metadata=stack.metadata(), timeout=30).runs
    )
    assert [(r.id, run_state(r)) for r in runs] == [(run.id, "draft")]


def overview(stack: Stack, role: str = "office", unit: str | None = None) -> Any:
    gateway, _, _ = stack.stubs()
    return gateway.GetOverview(
        gateway_pb2.GetOverviewRequest(year=2025), metadata=stack.metadata(role, unit), timeout=60
    )


def test_the_office_overview_shows_every_unit(example: Stack, expected_result: dict[str, Any]) -> None:
    shown = overview(example)
    assert (shown.year, shown.scheme) == (2025, "example-2025")
    assert shown.HasField("as_of")
    lines = {u.unit: u for u in shown.units}
    assert set(lines) == {u["unit"] for u in expected_result["units"]}
    for want in expected_result["units"]:
        line = lines[want["unit"]]
        assert (line.name, line.category) == (want["name"], want["category"])
        # The year is over, so the provisional standing is the year's result.
        assert (
            round(line.provisional_total, 2),
            line.provisional_rank,
            line.provisional_grade,
            line.veto,
        ) == (want["total"], want["rank"], want["grade"], want["veto"]), want["unit"]

    fgj, czj, sfj, jyj, cgz = (lines[u] for u in ("fgj", "czj", "sfj", "jyj", "cgz"))
    # Tasks: 发改局 reported T1 and T4 on time, T2 and T3 late; 财政局 left T5 (and T6, due 2026) open.
    assert (fgj.reported_on_time, fgj.reported_late, fgj.on_time_rate) == (2, 2, 0.5)
    assert (fgj.open_blue, fgj.open_yellow, fgj.open_red, fgj.overdue) == (0, 0, 0, 0)
    assert czj.open_red >= 1 and czj.overdue >= 1
    assert czj.open_blue + czj.open_yellow + czj.open_red >= 2
    assert (sfj.reported_on_time, sfj.reported_late, sfj.on_time_rate) == (0, 2, 0.0)
    assert jyj.on_time_rate == -1  # nothing reported: its only task was cancelled
    # Error reports of the year: E2 was voided by its upheld appeal, E5 is of 2024.
    assert {u: lines[u].error_reports for u in lines} == {
        "fgj": 1,
        "czj": 0,
        "sfj": 2,
        "jyj": 0,
        "cgz": 1,
        "mxz": 0,
    }
    indicators = {(u, i.metric): i for u in lines for i in lines[u].indicators}
    court = indicators[("fgj", "court_appearance_rate")]
    assert (
        court.has_value,
        court.value,
        court.target,
        court.direction,
        court.status,
        court.earned,
        court.max,
    ) == (True, 1.0, 1.0, gateway_pb2.INDICATOR_DIRECTION_MIN, gateway_pb2.INDICATOR_STATUS_MET, 20.0, 20.0)
    share = indicators[("czj", "livelihood_spending_share")]
    assert (share.value, share.target, share.status) == (
        pytest.approx(0.72),
        0.75,
        gateway_pb2.INDICATOR_STATUS_BELOW,
    )
    assert share.earned == pytest.approx(19.2)
    assert indicators[("czj", "court_appearance_rate")].status == gateway_pb2.INDICATOR_STATUS_NOT_APPLICABLE
    assert ("fgj", "livelihood_spending_share") not in indicators
    assert {i.metric for i in cgz.indicators} == {
        "court_appearance_rate",
        "field_research_days",
        "unannounced_visit_share",
    }


def test_a_department_overview_holds_its_own_line_only(example: Stack) -> None:
    office = {u.unit: u for u in overview(example).units}
    for unit in ("czj", "cgz"):
        own = overview(example, "department", unit)
        assert [u.unit for u in own.units] == [unit]
        assert own.units[0] == office[unit]


def dashboard(stack: Stack, role: str, caller: str | None, unit: str) -> Any:
    gateway, _, _ = stack.stubs()
    return gateway.GetDashboard(
        gateway_pb2.GetDashboardRequest(unit=unit, year=2025),
        metadata=stack.metadata(role, caller),
        timeout=60,
    )


def test_a_department_dashboard(example: Stack) -> None:
    board = dashboard(example, "department", "czj", "czj")
    assert board.standing.unit == "czj"
    assert board.standing == {u.unit: u for u in overview(example).units}["czj"]
    items = list(board.open_items)
    assert {i.task for i in items} == {"T5", "T6"}
    assert [i.hours_left for i in items] == sorted(i.hours_left for i in items)  # most urgent first
    assert items[0].task == "T5"
    for item in items:
        assert item.color in (
            common_pb2.TASK_COLOR_BLUE,
            common_pb2.TASK_COLOR_YELLOW,
            common_pb2.TASK_COLOR_RED,
        )
        assert item.cost_per_late_day == pytest.approx(item.cost_if_overdue * 0.1)
    cost = {i.task: i.cost_if_overdue for i in items}
    # T5 (weight 1) is already counted with credit 0 beside T3 (co-unit, weight 0.5): it costs 40 × 1 / 1.5.
    assert cost["T5"] == pytest.approx(40 / 1.5)
    assert cost["T6"] == 0  # due in 2026: it costs nothing in the 2025 assessment
    assert items[0].hours_left < 0 and items[0].color == common_pb2.TASK_COLOR_RED
    assert dashboard(example, "department", "czj", "").standing.unit == "czj"  # its own unit by default
    # hours_left runs with the clock; everything else is the same for the office.
    office = dashboard(example, "office", None, "czj").open_items
    assert [(i.task, i.color, i.due_at, i.cost_if_overdue) for i in office] == [
        (i.task, i.color, i.due_at, i.cost_if_overdue) for i in items
    ]


def test_another_units_dashboard_is_refused_and_audited(example: Stack) -> None:
    before = len(audit_lines(example))
    refused(lambda: dashboard(example, "department", "czj", "fgj"), grpc.StatusCode.PERMISSION_DENIED)
    new = audit_lines(example)[before:]
    assert [(e["method"], e["role"], e["unit"], e["outcome"]) for e in new] == [
        ("/kaohe.gateway.v1.GatewayService/GetDashboard", "department", "czj", "denied")
    ]
    assert "fgj" in new[0]["detail"]


def test_ranking_of_a_run_by_category(example: Stack, expected_result: dict[str, Any]) -> None:
    gateway, _, scoring = example.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=example.metadata(), timeout=60
    ).run
    for role in ("office", "supervisor", "viewer"):
        ranking = gateway.GetRanking(
            gateway_pb2.GetRankingRequest(run=run.id), metadata=example.metadata(role), timeout=60
        )
        assert (ranking.run, ranking.state, ranking.year) == (run.id, common_pb2.RUN_STATE_DRAFT, 2025)
        got = {
            c.category: [(r.rank, r.unit, r.total, r.grade, r.veto) for r in c.rows]
            for c in ranking.categories
        }
        want: dict[str, list[tuple[Any, ...]]] = {}
        for u in sorted(expected_result["units"], key=lambda u: u["rank"]):
            want.setdefault(u["category"], []).append(
                (u["rank"], u["unit"], u["total"], u["grade"], u["veto"])
            )
        assert got == want
    by_year = gateway.GetRanking(
        gateway_pb2.GetRankingRequest(year=2025), metadata=example.metadata(), timeout=60
    )
    assert by_year.run == run.id
    refused(
        lambda: gateway.GetRanking(
            gateway_pb2.GetRankingRequest(run=run.id),
            metadata=example.metadata("department", "fgj"),
            timeout=60,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    refused(
        lambda: gateway.GetRanking(
            gateway_pb2.GetRankingRequest(run="2025-99"), metadata=example.metadata(), timeout=60
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_without_scoring_the_ledger_answers_and_the_overview_names_scoring(example: Stack) -> None:
    _, tasks, _ = example.stubs()
    assert overview(example).units
    old = example.parts["scoring"]
    example.stop("scoring")
    old.db.dispose()
    listed = tasks.ListTasks(
        tasks_pb2.ListTasksRequest(page_size=100), metadata=example.metadata(), timeout=30
    )
    assert len(listed.tasks) == 12
    error = refused(lambda: overview(example), grpc.StatusCode.UNAVAILABLE)
    assert "scoring" in (error.details() or "")
    assert "tasks" not in (error.details() or "").replace("scoring", "")
    _, _, scoring = example.stubs()
    error = refused(
        lambda: (
            scoring.GetRun(scoring_pb2.GetRunRequest(year=2025), metadata=example.metadata(), timeout=30).run
        ),
        grpc.StatusCode.UNAVAILABLE,
    )
    assert "scoring" in (error.details() or "")
    counted = example.parts["gateway"].registry.get_sample_value(
        "kaohe_backend_unavailable_total", {"backend": "scoring"}
    )
    assert counted is not None and counted >= 2

    example.restart_scoring(example.parts["urls"]["scoring"])
    # The gateway redials the restarted service on its own schedule: wait until its channel is connected.
    grpc.channel_ready_future(example.parts["gateway"].backends.scoring.channel).result(timeout=60)
    assert {u.unit for u in overview(example).units} == {"fgj", "czj", "sfj", "jyj", "cgz", "mxz"}


SCORE_COLUMNS = {
    "总分": "total",
    "时效得分": "timeliness_earned",
    "时效满分": "timeliness_max",
    "指标得分": "metrics_earned",
    "指标满分": "metrics_max",
    "基础分(百分制)": "base",
    "激励加分": "bonus",
    "差错扣分": "error_deduction",
    "问责扣分": "accountability_deduction",
}


def test_export_of_the_worked_example(example: Stack) -> None:
    gateway, _, scoring = example.stubs()
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=example.metadata(), timeout=60
    ).run
    exported = gateway.ExportRun(
        gateway_pb2.ExportRunRequest(run=run.id), metadata=example.metadata("viewer"), timeout=60
    )
    assert exported.filename.endswith(".xlsx") and run.id in exported.filename
    document = result_to_json_dict(
        scoring.GetRun(
            scoring_pb2.GetRunRequest(id=run.id), metadata=example.metadata(), timeout=30
        ).run.result
    )
    units = {u["unit"]: u for u in document["units"]}
    book = load_workbook(io.BytesIO(exported.xlsx))
    assert {"部门", "乡镇", "加减分明细", "指标明细"} <= set(book.sheetnames)
    for ws in book.worksheets:
        assert ws.freeze_panes == "A3", ws.title

    seen = set()
    for title, category in (("部门", "department"), ("乡镇", "township")):
        ws = book[title]
        rows = list(ws.iter_rows(values_only=True))[1:]  # below the title row
        headers = list(rows[0])
        col = {h: headers.index(h) for h in headers}
        assert len(rows) - 1 == sum(1 for u in units.values() if u["category"] == category)
        for row in rows[1:]:
            unit = units[row[col["单位代码"]]]
            seen.add(unit["unit"])
            assert unit["category"] == category
            assert row[col["排名"]] == unit["rank"] and isinstance(row[col["排名"]], int)
            for header, key in SCORE_COLUMNS.items():
                value = row[col[header]]
                assert isinstance(value, int | float) and not isinstance(value, bool), (title, header, value)
                assert value == pytest.approx(unit[key], abs=1e-9), (unit["unit"], header)
            assert row[col["总分"]] == unit["total"]
    assert seen == set(units)

    # The detail lines of each unit add up to its bonus minus its deductions.
    lines = list(book["加减分明细"].iter_rows(values_only=True))[1:]  # below the title row
    col = {h: i for i, h in enumerate(lines[0])}
    net: dict[str, float] = {}
    for row in lines[1:]:
        points = row[col["分值"]]
        if points is not None:
            assert isinstance(points, int | float)
            net[row[col["单位代码"]]] = net.get(row[col["单位代码"]], 0.0) + points
    for unit, entry in units.items():
        want = entry["bonus"] - entry["error_deduction"] - entry["accountability_deduction"]
        assert net.get(unit, 0.0) == pytest.approx(want, abs=1e-9), unit

    # Each counted task's earned and lost timeliness points add up to the unit's 时效得分 and 时效满分.
    tasks = list(book["时效明细"].iter_rows(values_only=True))[1:]
    col = {h: i for i, h in enumerate(tasks[0])}
    earned: dict[str, float] = {}
    possible: dict[str, float] = {}
    for row in tasks[1:]:
        unit = row[col["单位代码"]]
        earned[unit] = earned.get(unit, 0.0) + row[col["得分"]]
        possible[unit] = possible.get(unit, 0.0) + row[col["得分"]] + row[col["失分"]]
    for unit, entry in units.items():
        assert earned.get(unit, 0.0) == pytest.approx(entry["timeliness_earned"], abs=1e-9), unit
        assert possible.get(unit, 0.0) == pytest.approx(entry["timeliness_max"], abs=1e-9), unit
    t2 = next(row for row in tasks[1:] if row[col["任务编号"]] == "T2")
    assert (t2[col["逾期工作日"]], t2[col["时效系数"]]) == (2, pytest.approx(0.8))


def test_a_caller_who_sets_no_deadline_is_answered(stack: Stack) -> None:
    # grpc gives such a caller ~2**63 seconds; passed on to the next hop as a timeout, it failed at once.
    from kaohe.gateway.v1 import gateway_pb2_grpc
    from kaohe.scoring.v1 import scoring_pb2_grpc
    from kaohe.tasks.v1 import tasks_pb2_grpc

    channel, metadata = stack.channel(), stack.metadata("office", None)
    tasks = tasks_pb2_grpc.TasksServiceStub(channel).ListTasks(
        tasks_pb2.ListTasksRequest(), metadata=metadata
    )
    assert tasks.as_of.seconds > 0
    records = scoring_pb2_grpc.ScoringServiceStub(channel).ListRecords(
        scoring_pb2.ListRecordsRequest(), metadata=metadata
    )
    assert list(records.records) == []
    shown = gateway_pb2_grpc.GatewayServiceStub(channel).GetOverview(
        gateway_pb2.GetOverviewRequest(), metadata=metadata
    )
    assert shown.year > 0
