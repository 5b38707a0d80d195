"""The one pager follows next_page_token to the last page and sends the request again with each token."""

from __future__ import annotations

from collections.abc import Callable

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.paging import every, pages

Call = Callable[[tasks_pb2.ListUnitsRequest], tasks_pb2.ListUnitsResponse]


def _paged(sizes: list[int]) -> tuple[list[str], Call]:
    sent: list[str] = []

    def call(request: tasks_pb2.ListUnitsRequest) -> tasks_pb2.ListUnitsResponse:
        sent.append(request.page_token)
        page = int(request.page_token or 0)
        start = sum(sizes[:page])
        units = [common_pb2.Unit(id=f"u{start + i}") for i in range(sizes[page])]
        following = str(page + 1) if page + 1 < len(sizes) else ""
        return tasks_pb2.ListUnitsResponse(units=units, next_page_token=following)

    return sent, call


def test_every_collects_the_items_of_every_page_in_order() -> None:
    sent, call = _paged([2, 3, 1])
    units = every(call, tasks_pb2.ListUnitsRequest(page_size=3), lambda reply: reply.units)
    assert [u.id for u in units] == [f"u{i}" for i in range(6)]
    assert sent == ["", "1", "2"]


def test_one_page_is_one_call() -> None:
    sent, call = _paged([4])
    replies = list(pages(call, tasks_pb2.ListUnitsRequest()))
    assert len(replies) == 1 and sent == [""]


def test_a_caller_may_stop_after_the_first_page() -> None:
    sent, call = _paged([1, 1, 1])
    first = next(pages(call, tasks_pb2.ListUnitsRequest()))
    assert first.next_page_token == "1" and sent == [""]
