"""Versions pushed to the gateway: a cached overview costs no GetVersion hop, and never hides a write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import GATEWAY, make_user_identity
from services.common.change_watch import HEARTBEAT_SECONDS
from services.gateway.versions import PushedVersions
from tests.conftest import Stack, internal_metadata, secure_channel
from tests.integration.test_records import kind_number, struct
from tests.tasks_text import TextStub, typed

WATCH = "/kaohe.tasks.v1.TasksInternalService/WatchVersion"


def overview(stack: Stack, address: str | None = None) -> Any:
    channel = stack.channel(address)
    return gateway_pb2_grpc.GatewayServiceStub(channel).GetOverview(
        gateway_pb2.GetOverviewRequest(year=2025), metadata=stack.metadata(), timeout=60
    )


def line(reply: Any, unit: str) -> Any:
    return next(u for u in reply.units if u.unit == unit)


def open_tasks(reply: Any, unit: str) -> int:
    found = line(reply, unit)
    return int(found.open_blue + found.open_yellow + found.open_red)


def version_calls(stack: Stack, service: str) -> float:
    """GetVersion calls the service answered: the hops the push saves."""
    value = stack.parts[service].registry.get_sample_value(
        "kaohe_grpc_server_requests_total", {"service": service, "method": "GetVersion", "code": "OK"}
    )
    return float(value or 0.0)


def hops(stack: Stack) -> tuple[float, float]:
    return version_calls(stack, "tasks"), version_calls(stack, "scoring")


def gauge(stack: Stack, backend: str) -> float:
    value = stack.parts["gateway"].registry.get_sample_value(
        "kaohe_gateway_pushed_versions", {"backend": backend}
    )
    return float(value if value is not None else -1)


def versions(stack: Stack) -> PushedVersions:
    pushed: PushedVersions = stack.parts["gateway"].app.versions
    return pushed


def wait_until(
    stack: Stack, condition: Callable[[PushedVersions], bool], what: str, *, timeout: float = 30
) -> None:
    """Waits on the gateway's pushes (a condition it notifies), not on the clock."""
    pushed = versions(stack)
    with pushed.changed:
        assert pushed.changed.wait_for(lambda: condition(pushed), timeout=timeout), f"timed out: {what}"


def pushed_both(pushed: PushedVersions) -> bool:
    return pushed.tasks.current() is not None and pushed.scoring.current() is not None


def create_task(stack: Stack, address: str | None = None, title: str = "推送") -> Any:
    tasks = TextStub(tasks_pb2_grpc.TasksServiceStub(stack.channel(address)))
    return tasks.CreateTask(
        typed(
            tasks_pb2.CreateTaskRequest,
            title=title,
            task_type="leader_directive",
            lead_unit="fgj",
            assign_now=True,
        ),
        metadata=stack.metadata(),
        timeout=30,
    ).task


@pytest.fixture
def watched(example: Stack) -> Stack:
    """The worked example with the gateway's version streams up (its first overview starts them)."""
    overview(example)
    wait_until(example, pushed_both, "both versions pushed")
    assert (gauge(example, "tasks"), gauge(example, "scoring")) == (1.0, 1.0)
    return example


@pytest.fixture
def other_side(watched: Stack) -> Iterator[str]:
    """Another tasks process over the same database and another gateway in front of it: a write there
    commits in another process than the one streaming to the watched gateway."""
    from services.gateway.__main__ import create as create_gateway
    from services.tasks.__main__ import create as create_tasks

    tasks = create_tasks(
        address="127.0.0.1:0",
        db_url=watched.parts["tasks"].db.url,
        scheme=watched.scheme,
        keys=watched.keys,
        tls=watched.tls.config("tasks"),
    )
    tasks.server.start()
    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=watched.keys,
        tls=watched.tls.config("gateway"),
        tasks_addr=f"127.0.0.1:{tasks.port}",
        scoring_addr=watched.scoring_addr,
        audit_path=None,
    )
    gateway.server.start()
    yield f"127.0.0.1:{gateway.port}"
    gateway.server.stop(0).wait()
    gateway.backends.tasks.close()
    gateway.backends.scoring.close()
    tasks.server.stop(0).wait()
    tasks.db.dispose()


def record_error(stack: Stack, address: str) -> None:
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(address))
    fields = {
        "id": "E-push",
        "unit": "fgj",
        "date": "2025-06-02",
        "category": "drafting",
        "severity": "general",
        "description": "推送之后的差错",
    }
    scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(kind=kind_number("error_report"), fields=struct(fields)),
        metadata=stack.metadata(),
        timeout=30,
    )


def sequence(version: Any) -> int:
    return int(version.sequence) if version is not None else -1


def test_a_write_elsewhere_reaches_the_cached_overview_without_a_hop(watched: Stack, other_side: str) -> None:
    before = overview(watched)
    calls = hops(watched)
    pushed = versions(watched)
    tasks_at, scoring_at = sequence(pushed.tasks.current()), sequence(pushed.scoring.current())
    create_task(watched, other_side)
    record_error(watched, other_side)
    # The task committed in the other tasks process: this one learns it from the database (NOTIFY on
    # PostgreSQL, its poll on SQLite) and pushes it; the record, scoring pushes itself. Sooner than the
    # heartbeat, whose fresh read would find them too.
    wait_until(
        watched,
        lambda p: sequence(p.tasks.current()) > tasks_at and sequence(p.scoring.current()) > scoring_at,
        "both writes pushed",
        timeout=HEARTBEAT_SECONDS / 2,
    )
    after = overview(watched)
    assert open_tasks(after, "fgj") == open_tasks(before, "fgj") + 1
    assert line(after, "fgj").error_reports == line(before, "fgj").error_reports + 1
    for _ in range(3):
        assert overview(watched) == after
    assert hops(watched) == calls


def test_a_view_read_after_a_write_through_the_same_gateway_has_the_write(watched: Stack) -> None:
    before = overview(watched)
    calls = hops(watched)
    create_task(watched)
    # Read at once, before any push could arrive: the gateway asks both services once rather than trust
    # a version pushed before the write.
    after = overview(watched)
    assert open_tasks(after, "fgj") == open_tasks(before, "fgj") + 1
    assert hops(watched) == (calls[0] + 1, calls[1] + 1)
    # The version asked for is kept: the views after it cost no hop while the stream carries on.
    overview(watched)
    assert hops(watched) == (calls[0] + 1, calls[1] + 1)


def test_a_restarted_service_is_asked_until_its_stream_is_back(watched: Stack) -> None:
    from services.tasks.__main__ import create as create_tasks

    watched.stop("tasks")
    wait_until(watched, lambda pushed: pushed.tasks.current() is None, "the stream seen down")
    assert gauge(watched, "tasks") == 0.0
    asked = versions_asked(watched)
    # No view from a version nobody pushes any more: the gateway asks tasks, which is not there.
    with pytest.raises(grpc.RpcError) as refused:
        overview(watched)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert versions_asked(watched) == asked + 1
    port = int(watched.tasks_addr.rsplit(":", 1)[1])
    old = watched.parts["tasks"]
    tasks = create_tasks(
        address=f"127.0.0.1:{port}",
        db_url=old.db.url,
        scheme=watched.scheme,
        keys=watched.keys,
        tls=watched.tls.config("tasks"),
    )
    tasks.server.start()
    old.db.dispose()
    watched.parts["tasks"] = tasks
    # Redialled with backoff; the first version it pushes ends the fallback.
    wait_until(watched, pushed_both, "the stream back after the restart")
    assert gauge(watched, "tasks") == 1.0
    calls = hops(watched)
    first = overview(watched)
    assert overview(watched) == first
    assert hops(watched) == calls


def versions_asked(stack: Stack) -> float:
    value = stack.parts["gateway"].registry.get_sample_value(
        "kaohe_gateway_version_requests_total", {"backend": "tasks"}
    )
    return float(value or 0.0)


def test_the_stream_is_the_gateways_own_and_nobody_elses(watched: Stack) -> None:
    request = tasks_pb2.WatchVersionRequest()
    as_gateway = secure_channel(watched.tls, watched.tasks_addr, as_service="gateway", target_name="tasks")
    as_scoring = secure_channel(watched.tls, watched.tasks_addr, as_service="scoring", target_name="tasks")
    try:
        stream = tasks_pb2_grpc.TasksInternalServiceStub(as_gateway).WatchVersion(
            request, metadata=internal_metadata(GATEWAY, WATCH, request), timeout=10
        )
        first = next(iter(stream))
        assert first.version.sequence == versions(watched).tasks.current().sequence
        stream.cancel()
        office = make_user_identity(role="office", unit=None)
        for channel, identity in ((as_gateway, office), (as_scoring, GATEWAY)):
            refused = tasks_pb2_grpc.TasksInternalServiceStub(channel).WatchVersion(
                request, metadata=internal_metadata(identity, WATCH, request), timeout=10
            )
            with pytest.raises(grpc.RpcError) as denied:
                next(iter(refused))
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        as_gateway.close()
        as_scoring.close()
