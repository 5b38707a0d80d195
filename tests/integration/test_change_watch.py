"""The change watch behind WatchVersion: commits by any process wake its streams; it stops when they do."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, insert

from services.common.change_watch import ChangeWatch
from services.common.db import Database, sequence_table
from tests.conftest import Databases


class Caller:
    """The side of a gRPC stream the watch sees: a callback run when the caller goes away."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self.callbacks.append(callback)
        return True

    def hang_up(self) -> None:
        for callback in self.callbacks:
            callback()


class Stream:
    """A follow() read on a thread of its own, its versions in a queue (None once it ended)."""

    def __init__(self, watch: ChangeWatch, read: Callable[[], tuple[Any, float]], **kw: Any) -> None:
        self.caller = Caller()
        self.got: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(watch, read), kwargs=kw, daemon=True)
        self.thread.start()

    def _run(self, watch: ChangeWatch, read: Callable[[], tuple[Any, float]], **kw: Any) -> None:
        for version in watch.follow(self.caller, read, **kw):  # type: ignore[arg-type]
            self.got.put(version)
        self.got.put(None)

    def next(self) -> Any:
        return self.got.get(timeout=10)


@pytest.fixture
def two_processes(databases: Databases) -> Iterator[tuple[Database, Database]]:
    """One database seen through two Database objects, as two processes of a service see it."""
    url = databases.url("watch")
    metadata = MetaData()
    table = sequence_table(metadata, "watch_sequence")
    first = Database(url, sequence="watch_sequence")
    metadata.create_all(first.engine)
    with first.engine.begin() as conn:
        conn.execute(insert(table).values(id=1, value=0))
    second = Database(url, sequence="watch_sequence")
    yield first, second
    first.dispose()
    second.dispose()


def write(db: Database) -> None:
    with db.write():
        pass  # the bump alone: what every write transaction ends with


def test_a_commit_by_another_process_wakes_the_stream(two_processes: tuple[Database, Database]) -> None:
    mine, other = two_processes
    watch = ChangeWatch(mine)
    # No heartbeat within the test: what wakes the stream is the database.
    stream = Stream(watch, lambda: (mine.sequence(), 0.0), heartbeat=600)
    assert stream.next() == 0
    write(other)  # no in-process hook fires for it: NOTIFY on PostgreSQL, the poll on SQLite
    assert stream.next() == 1
    write(mine)
    assert stream.next() == 2
    stream.caller.hang_up()
    assert stream.next() is None
    watch.close()


def test_nothing_new_is_said_again_each_heartbeat(two_processes: tuple[Database, Database]) -> None:
    mine, _ = two_processes
    watch = ChangeWatch(mine)
    reads: list[int] = []

    def read() -> tuple[int, float]:
        reads.append(1)
        return mine.sequence(), 0.0

    stream = Stream(watch, read, heartbeat=0.05)
    assert [stream.next(), stream.next(), stream.next()] == [0, 0, 0]
    assert len(reads) >= 3  # each repeat a fresh read, not a copy
    watch.close()
    while (version := stream.next()) is not None:
        assert version == 0


def test_the_thread_runs_while_a_stream_is_open_and_stops_after(
    two_processes: tuple[Database, Database],
) -> None:
    mine, _ = two_processes
    watch = ChangeWatch(mine)
    before = watchers()
    stream = Stream(watch, lambda: (mine.sequence(), 0.0))
    stream.next()
    (thread,) = watchers() - before
    stream.caller.hang_up()
    assert stream.next() is None
    thread.join(timeout=10)
    assert not thread.is_alive()
    # The next stream starts another, and it works.
    again = Stream(watch, lambda: (mine.sequence(), 0.0), heartbeat=600)
    assert again.next() == 0
    assert len(watchers() - before) == 1
    write(two_processes[1])
    assert again.next() == 1
    watch.close()
    assert again.next() is None


def watchers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "change-watch" and t.is_alive()}


def test_a_closed_watch_ends_its_streams_and_opens_none(two_processes: tuple[Database, Database]) -> None:
    mine, _ = two_processes
    watch = ChangeWatch(mine)
    streams = [Stream(watch, lambda: (mine.sequence(), 0.0)) for _ in range(3)]
    assert [s.next() for s in streams] == [0, 0, 0]
    watch.close()
    assert [s.next() for s in streams] == [None, None, None]
    late = Stream(watch, lambda: (mine.sequence(), 0.0))
    assert late.next() is None
