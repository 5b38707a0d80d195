"""The live standing is cached under its data's versions: a write is seen at once, a repeat is not redone."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2

from services.common.auth import make_user_identity
from services.common.wiretime import epoch_of
from tests.conftest import Stack, internal_metadata
from tests.integration.test_records import create_record
from tests.tasks_text import TextStub, typed


def overview(stack: Stack, role: str = "office", unit: str | None = None) -> Any:
    gateway, _, _ = stack.stubs()
    return gateway.GetOverview(
        gateway_pb2.GetOverviewRequest(year=2025), metadata=stack.metadata(role, unit), timeout=60
    )


def cache_count(stack: Stack, what: str) -> float:
    value = stack.parts["gateway"].registry.get_sample_value(
        f"kaohe_view_cache_{what}_total", {"view": "standing"}
    )
    return float(value or 0.0)


def line(reply: Any, unit: str) -> Any:
    return next(u for u in reply.units if u.unit == unit)


def test_a_second_read_without_writes_is_served_from_the_cache(example: Stack) -> None:
    first = overview(example)
    hits, misses = cache_count(example, "hits"), cache_count(example, "misses")
    second = overview(example)
    assert (cache_count(example, "hits"), cache_count(example, "misses")) == (hits + 1, misses)
    assert second == first
    assert second.as_of == first.as_of  # the instant it was computed for, not the instant it was served


def test_a_new_task_is_in_the_overview_read_at_once(example: Stack) -> None:
    before = line(overview(example), "fgj")
    overview(example)
    _, raw_tasks, _ = example.stubs()
    tasks = TextStub(raw_tasks)
    tasks.CreateTask(
        typed(
            tasks_pb2.CreateTaskRequest,
            title="缓存",
            task_type="leader_directive",
            lead_unit="fgj",
            assign_now=True,
        ),
        metadata=example.metadata(),
        timeout=30,
    )
    misses = cache_count(example, "misses")
    after = line(overview(example), "fgj")
    assert cache_count(example, "misses") == misses + 1
    opened = (after.open_blue + after.open_yellow + after.open_red) - (
        before.open_blue + before.open_yellow + before.open_red
    )
    assert opened == 1


def test_a_new_record_is_in_the_overview_read_at_once(example: Stack) -> None:
    before = line(overview(example), "fgj")
    overview(example)
    create_record(
        example,
        "error_report",
        {
            "id": "E-cache",
            "unit": "fgj",
            "date": "2025-06-02",
            "category": "drafting",
            "severity": "general",
            "description": "缓存之后的差错",
        },
    )
    after = line(overview(example), "fgj")
    assert after.error_reports == before.error_reports + 1
    assert after.provisional_total < before.provisional_total


def test_each_visibility_has_its_own_entry(example: Stack) -> None:
    office = overview(example)
    department = overview(example, "department", "fgj")
    assert len(office.units) > 1
    assert [u.unit for u in department.units] == ["fgj"]
    assert [u.unit for u in overview(example, "department", "fgj").units] == ["fgj"]


def test_the_next_change_is_the_first_colour_edge_of_an_open_task(example: Stack) -> None:
    _, raw_tasks, _ = example.stubs()
    tasks = TextStub(raw_tasks)
    task = tasks.CreateTask(
        typed(
            tasks_pb2.CreateTaskRequest,
            title="时限",
            task_type="leader_directive",
            lead_unit="fgj",
            assign_now=True,
        ),
        metadata=example.metadata(),
        timeout=30,
    ).task
    version = tasks.GetVersion(tasks_pb2.GetVersionRequest(), metadata=example.metadata(), timeout=10)
    assigned = datetime.fromisoformat(task.assigned_at).timestamp()
    due = datetime.fromisoformat(task.due_at).timestamp()
    assert epoch_of(version, "at") <= time.time() < due
    # The worked example is a past year: the new task's yellow edge is the only instant still ahead.
    threshold = example.scheme.timeliness.yellow_threshold
    assert epoch_of(version, "next_change") == math.ceil(assigned + threshold * (due - assigned))
    again = tasks.GetVersion(tasks_pb2.GetVersionRequest(), metadata=example.metadata(), timeout=10)
    assert (again.sequence, again.next_change) == (version.sequence, version.next_change)
    # Scoring's version is internal: asked for the person the gateway's views are computed for.
    scoring = scoring_pb2_grpc.ScoringInternalServiceStub(example.channel(example.scoring_addr))
    request = scoring_pb2.GetVersionRequest()
    office = make_user_identity(role="office", unit=None)
    scoring_version = scoring.GetVersion(
        request,
        metadata=internal_metadata(office, "/kaohe.scoring.v1.ScoringInternalService/GetVersion", request),
        timeout=10,
    )
    assert scoring_version.scheme_sha256 == example.scheme.sha256
