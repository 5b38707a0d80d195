"""The console's kept answers: one call per key, failures not kept, the least recently used going first."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.web.gateway import KeptAnswers


def test_each_method_of_the_apis_takes_a_request_type_of_its_own() -> None:
    # Kept answers are keyed by the request's type: two methods sharing one would answer for each other.
    taken: dict[str, str] = {}
    for module in (gateway_pb2, accounts_pb2, tasks_pb2, scoring_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                assert method.input_type.full_name not in taken, (method.full_name, taken)
                taken[method.input_type.full_name] = method.full_name
    assert len(taken) > 50


def answered(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def test_a_key_is_asked_once_and_its_answer_kept() -> None:
    kept = KeptAnswers()
    calls: list[str] = []
    gate = threading.Event()

    def call(name: str) -> Future[Any]:
        calls.append(name)
        return pool.submit(lambda: gate.wait(30) and tasks_pb2.ListUnitsResponse(next_page_token=name))

    with ThreadPoolExecutor(2) as pool:
        first = kept.start(("tag", ("office", ""), "a"), lambda: call("a"))
        again = kept.start(("tag", ("office", ""), "a"), lambda: call("a"))  # while the first is under way
        other = kept.start(("tag", ("department", "fgj"), "a"), lambda: call("fgj"))
        gate.set()
        assert first.result(30).next_page_token == again.result(30).next_page_token == "a"
        assert other.result(30).next_page_token == "fgj"
        later = kept.start(("tag", ("office", ""), "a"), lambda: call("again"))
        assert later.result(30).next_page_token == "a"
    assert calls == ["a", "fgj"]


def test_a_failed_call_is_asked_again() -> None:
    kept = KeptAnswers()
    failed: Future[Any] = Future()
    failed.set_exception(RuntimeError("网关暂不可用"))
    with pytest.raises(RuntimeError):
        kept.start("k", lambda: failed).result()
    assert kept.start("k", lambda: answered(tasks_pb2.ListUnitsResponse())).result() == (
        tasks_pb2.ListUnitsResponse()
    )


def test_the_least_recently_used_goes_first() -> None:
    kept = KeptAnswers(size=2)
    asked: list[str] = []

    def call(key: str) -> Future[Any]:
        asked.append(key)
        return answered(tasks_pb2.ListUnitsResponse(next_page_token=key))

    for key in ("a", "b", "a", "c", "a", "b"):
        kept.start(key, lambda key=key: call(key))  # type: ignore[misc]
    # a and b kept; c pushes out b (a was used since); a is still kept; b is asked again.
    assert asked == ["a", "b", "c", "b"]


def test_a_page_is_made_once_under_its_key_and_a_failure_made_again() -> None:
    kept = KeptAnswers()
    made: list[str] = []

    def make(text: str) -> str:
        made.append(text)
        return text

    assert kept.made(("tag", "office"), lambda: make("页面")) == "页面"
    assert kept.made(("tag", "office"), lambda: make("另一个")) == "页面"
    assert kept.made(("tag2", "office"), lambda: make("新页面")) == "新页面"

    def broken() -> str:
        raise RuntimeError("网关暂不可用")

    with pytest.raises(RuntimeError):
        kept.made(("tag3", "office"), broken)
    assert kept.made(("tag3", "office"), lambda: make("重做")) == "重做"
    assert made == ["页面", "新页面", "重做"]
