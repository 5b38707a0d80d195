"""Views kept under the versions of the data they came from, until a write or the clock changes them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter

T = TypeVar("T")


class ViewCache(Generic[T]):
    """Computed views by key, each good until an instant (0: until its key goes out of use).

    The key carries the change sequences of the services the view was read from, so a write anywhere
    makes every older entry unreachable; the instant covers what changes without a write (colours and
    overdue counts move with the clock). Callers asking for a key being computed wait for that one
    computation instead of starting their own.
    """

    def __init__(self, *, view: str, registry: CollectorRegistry | None, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._flights: dict[Hashable, Future[T]] = {}
        self._lock = threading.Lock()
        hits = Counter(
            "kaohe_view_cache_hits",
            "Views answered from the cache (or from a computation already under way), by view.",
            ["view"],
            registry=registry,
        )
        misses = Counter(
            "kaohe_view_cache_misses",
            "Views computed from the services' data, by view.",
            ["view"],
            registry=registry,
        )
        self.hits: Any = hits.labels(view)
        self.misses: Any = misses.labels(view)

    def fetch(
        self, key: Hashable, *, now: int, valid_until: int, compute: Callable[[], T], timeout: float
    ) -> T:
        """The view under key as of now: kept when still good, else computed once and kept."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (not entry[1] or now < entry[1]):
                self._entries.move_to_end(key)
                self.hits.inc()
                return entry[0]
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not owner:
            self.hits.inc()
            return flight.result(timeout)
        self.misses.inc()
        try:
            value = compute()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
        with self._lock:
            self._entries[key] = (value, valid_until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        flight.set_result(value)
        return value
