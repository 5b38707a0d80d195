"""The gateway's pushed version: believed only while it cannot be behind a write passed on or the clock."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from kaohe.tasks.v1 import tasks_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.common.wiretime import instant
from services.gateway.versions import PushedVersion

ENDED = object()


class Ended(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "the service went away"


class Call:
    """A WatchVersion call whose messages the test sends."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> Iterator[Any]:
        while (message := self.messages.get()) is not ENDED:
            yield message
        raise Ended()

    def cancel(self) -> None:
        self.messages.put(ENDED)


class Service:
    """The backend as the gateway sees it: each WatchVersion call handed to the test."""

    name = "tasks"

    def __init__(self) -> None:
        self.calls: queue.Queue[Call] = queue.Queue()

    def method(self, name: str) -> Any:
        assert name == "WatchVersion"

        def watch(request: Any, *, metadata: Any) -> Call:
            call = Call()
            self.calls.put(call)
            return call

        return watch

    def metadata(self, identity: Any) -> Any:
        return ()

    def next_call(self) -> Call:
        return self.calls.get(timeout=10)


def version(sequence: int, next_change: int = 0) -> tasks_pb2.GetVersionResponse:
    return tasks_pb2.GetVersionResponse(
        sequence=sequence, next_change=instant(next_change or None), at=instant(int(time.time()))
    )


@pytest.fixture
def pushed() -> Iterator[tuple[PushedVersion, Service, CollectorRegistry]]:
    registry = CollectorRegistry()
    up = Gauge("kaohe_gateway_pushed_versions", "", ["backend"], registry=registry)
    hops = Counter("kaohe_gateway_version_requests", "", ["backend"], registry=registry)
    service = Service()
    watched = PushedVersion(
        service,  # type: ignore[arg-type]
        tasks_pb2.GetVersionRequest(),
        tasks_pb2.WatchVersionRequest(),
        up=up.labels("tasks"),
        hops=hops.labels("tasks"),
        changed=threading.Condition(),
    )
    watched.start()
    yield watched, service, registry
    watched.stop()


def wait(watched: PushedVersion, condition: Any) -> None:
    with watched.changed:
        assert watched.changed.wait_for(condition, timeout=10)


def push(watched: PushedVersion, call: Call, message: tasks_pb2.GetVersionResponse) -> None:
    """Sends message and waits until the gateway has taken it in."""
    before = watched.heard
    call.messages.put(tasks_pb2.WatchVersionResponse(version=message))
    wait(watched, lambda: watched.heard != before)


def sequence(watched: PushedVersion) -> int | None:
    current = watched.current()
    return None if current is None else int(current.sequence)


def test_pushed_versions_are_believed_and_a_write_makes_the_next_view_ask(pushed: Any) -> None:
    watched, service, registry = pushed
    call = service.next_call()
    assert sequence(watched) is None  # not up yet: asked
    push(watched, call, version(7))
    assert sequence(watched) == 7
    assert registry.get_sample_value("kaohe_gateway_pushed_versions", {"backend": "tasks"}) == 1
    watched.wrote()
    assert sequence(watched) is None
    push(watched, call, version(8))  # may have been read before the write committed: not believed
    assert sequence(watched) is None
    asked = watched.fetch(lambda request: version(9))
    assert asked.sequence == 9
    assert sequence(watched) == 9
    push(watched, call, version(10))
    assert sequence(watched) == 10
    push(watched, call, version(9))  # never backwards
    assert sequence(watched) == 10


def test_an_answer_read_across_a_write_is_not_kept(pushed: Any) -> None:
    watched, service, _ = pushed
    call = service.next_call()
    push(watched, call, version(3))

    def ask(request: Any) -> Any:
        watched.wrote()  # another caller's write passed on while this GetVersion was under way
        return version(3)

    watched.wrote()
    watched.fetch(ask)
    assert sequence(watched) is None


def test_a_version_past_its_next_change_is_not_believed(pushed: Any) -> None:
    watched, service, _ = pushed
    call = service.next_call()
    push(watched, call, version(5, next_change=int(time.time()) - 1))
    assert sequence(watched) is None
    push(watched, call, version(5, next_change=int(time.time()) + 3600))
    assert sequence(watched) == 5
    assert watched.current().at.seconds >= int(time.time()) - 1  # the gateway's clock, for the cache


def test_a_stream_that_ends_is_asked_around_and_dialled_again(pushed: Any) -> None:
    watched, service, registry = pushed
    call = service.next_call()
    push(watched, call, version(1))
    call.cancel()
    wait(watched, lambda: watched.current() is None)
    assert registry.get_sample_value("kaohe_gateway_pushed_versions", {"backend": "tasks"}) == 0
    again = service.next_call()  # after a backoff, not at once and not never
    push(watched, again, version(2))
    assert sequence(watched) == 2
