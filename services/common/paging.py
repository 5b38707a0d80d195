"""One pager: every page of a List* RPC, following next_page_token until a page gives none.

The call is whatever sends the request (a stub method, the CLI's `client.call`, the gateway's backend
hop) wrapped to take the request alone; the request is sent again with each next page's token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

__all__ = ["PagedReply", "PagedRequest", "every", "pages"]


class PagedRequest(Protocol):
    """A List* request: it asks for the page its page_token names ("" the first)."""

    page_token: str


class PagedReply(Protocol):
    """A List* reply: next_page_token names the next page ("" when this is the last)."""

    @property
    def next_page_token(self) -> str: ...


RequestT = TypeVar("RequestT", bound=PagedRequest)
ReplyT = TypeVar("ReplyT", bound=PagedReply)
ItemT = TypeVar("ItemT")


def pages(call: Callable[[RequestT], ReplyT], request: RequestT) -> Iterator[ReplyT]:
    """Every reply, first page first; request.page_token is set to each next page's token in turn."""
    while True:
        reply = call(request)
        yield reply
        if not reply.next_page_token:
            return
        request.page_token = reply.next_page_token


def every(
    call: Callable[[RequestT], ReplyT], request: RequestT, items: Callable[[ReplyT], Iterable[ItemT]]
) -> list[ItemT]:
    """The items of every page, in order: items(reply) picks them out of one reply."""
    return [item for reply in pages(call, request) for item in items(reply)]
