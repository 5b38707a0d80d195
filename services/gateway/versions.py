"""The versions of tasks and scoring as they push them, so that a cached view costs no GetVersion hop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.common.auth import GATEWAY
from services.common.change_watch import HEARTBEAT_SECONDS
from services.common.clients import Backend
from services.common.wiretime import epoch_of, instant

log = logging.getLogger("kaohe.gateway.versions")
# A stream that failed is dialled again after this long, doubled at each failure in a row up to the most.
BACKOFF_FIRST = 0.1
BACKOFF_MOST = 5.0
# A stream silent for this long (its service repeats itself every HEARTBEAT_SECONDS) is not believed.
SILENT_SECONDS = 3 * HEARTBEAT_SECONDS


class PushedVersion:
    """One service's version as its WatchVersion stream pushes it, or None whenever it may be behind.

    None while the stream is down or silent, once the version's next_change has come, and after a write
    this gateway passed on until a GetVersion read after that write answers (fetched): a person who
    wrote and then reads sees the write. A pushed version only ever moves forward from a known one.
    """

    def __init__(
        self, backend: Backend, request: Any, watch: Any, *, up: Any, hops: Any, changed: threading.Condition
    ) -> None:
        self.backend = backend
        self.changed = changed
        self.request = request
        self.watch = watch
        self.up = up
        self.hops = hops
        self._lock = threading.Lock()
        self._known: Any = None
        # The newest version pushed, believed or not (after a write, until a GetVersion answers).
        self._newest: Any = None
        self._streaming = False
        self._heard = 0.0
        # Writes passed on so far: an answer read before the last of them must not be kept.
        self._writes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._call: Any = None

    def start(self) -> None:
        """Dials the stream in a thread of its own, once (again after stop)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name=f"versions-{self.backend.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Ends the stream and its thread; the views ask GetVersion again."""
        self._stop.set()
        with self._lock:
            call, thread = self._call, self._thread
        if call is not None:
            call.cancel()
        if thread is not None:
            thread.join(timeout=5)

    def current(self) -> Any:
        """The version as pushed, for now (its `at` this gateway's clock); None when it may be behind."""
        with self._lock:
            known, streaming, heard = self._known, self._streaming, self._heard
        if known is None or not streaming or time.monotonic() - heard > SILENT_SECONDS:
            return None
        now = int(time.time())
        if "next_change" in known.DESCRIPTOR.fields_by_name:
            next_change = epoch_of(known, "next_change")
            if next_change and now >= next_change:
                return None  # the service pushes the version after it shortly; until then, ask
            fresh = type(known)()
            fresh.CopyFrom(known)
            fresh.at.CopyFrom(instant(now))
            return fresh
        return known

    @property
    def heard(self) -> float:
        """When the stream last delivered (time.monotonic(); 0: never)."""
        with self._lock:
            return self._heard

    def wrote(self) -> None:
        """A write went to a service through this gateway: the next view asks GetVersion first."""
        with self._lock:
            self._writes += 1
            self._known = None

    def fetch(self, ask: Callable[[Any], Any]) -> Any:
        """ask(GetVersionRequest) for the caller, the answer kept when no write was passed on meanwhile."""
        with self._lock:
            writes = self._writes
        self.hops.inc()
        reply = ask(self.request)
        with self._lock:
            if self._streaming and self._writes == writes and _not_older(reply, self._known):
                # A push newer than the answer has the write too (pushes after a write wait for this).
                newest = self._newest
                newer = newest is not None and newest.sequence > reply.sequence
                self._known = newest if newer else reply
        return reply

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                if self._follow() >= BACKOFF_MOST:
                    delay = BACKOFF_FIRST  # a stream that lasted: the next failure is a new one
            except ValueError:
                return  # the channel was closed: the gateway is stopping
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, BACKOFF_MOST)

    def _follow(self) -> float:
        """One stream until it ends; the seconds it delivered for (0: nothing)."""
        with self._lock:
            if self._stop.is_set():
                return 0.0
            writes = self._writes
            call = self._call = self.backend.method("WatchVersion")(
                self.watch, metadata=self.backend.metadata(GATEWAY)
            )
        heard = 0.0
        try:
            for reply in call:
                self._pushed(reply.version, first=not heard, writes=writes)
                heard = heard or time.monotonic()
        except grpc.RpcError as exc:
            if not self._stop.is_set():
                log.info(
                    "version stream ended",
                    extra={"backend": self.backend.name, "code": exc.code().name, "reason": exc.details()},
                )
        finally:
            with self._lock:
                self._streaming = False
                self._known = self._newest = None
                self._call = None
            self.up.set(0)
            self._tell()
        return time.monotonic() - heard if heard else 0.0

    def _pushed(self, version: Any, *, first: bool, writes: int) -> None:
        with self._lock:
            self._heard = time.monotonic()
            if _not_older(version, self._newest):
                self._newest = version
            if first:
                # Read by the service after the stream was opened: it has every write passed on before.
                self._streaming = True
                self._known = version if self._writes == writes else None
            elif self._known is not None and _not_older(version, self._known):
                self._known = version
        if first:
            self.up.set(1)
        self._tell()

    def _tell(self) -> None:
        with self.changed:
            self.changed.notify_all()


def _not_older(version: Any, than: Any) -> bool:
    return than is None or version.sequence >= than.sequence


class PushedVersions:
    """The versions of both services for the gateway's cached views, as pushed; started on first use."""

    def __init__(self, tasks: Backend, scoring: Backend, *, registry: CollectorRegistry | None) -> None:
        # Notified whenever a stream delivers, comes up or goes down (what waits for a push waits on it).
        self.changed = threading.Condition()
        up = Gauge(
            "kaohe_gateway_pushed_versions",
            "Whether the gateway keeps its cached views by the versions a backend pushes (1) or asks it "
            "GetVersion for each view (0: its stream is down or not up yet), by backend.",
            ["backend"],
            registry=registry,
            multiprocess_mode="livemin",
        )
        hops = Counter(
            "kaohe_gateway_version_requests",
            "GetVersion calls the gateway made for its cached views (none while versions are pushed), "
            "by backend.",
            ["backend"],
            registry=registry,
        )
        self.tasks = PushedVersion(
            tasks,
            tasks_pb2.GetVersionRequest(),
            tasks_pb2.WatchVersionRequest(),
            up=up.labels("tasks"),
            hops=hops.labels("tasks"),
            changed=self.changed,
        )
        self.scoring = PushedVersion(
            scoring,
            scoring_pb2.GetVersionRequest(),
            scoring_pb2.WatchVersionRequest(),
            up=up.labels("scoring"),
            hops=hops.labels("scoring"),
            changed=self.changed,
        )
        self.tasks.up.set(0)
        self.scoring.up.set(0)

    def start(self) -> None:
        self.tasks.start()
        self.scoring.start()

    def stop(self) -> None:
        self.tasks.stop()
        self.scoring.stop()

    def read(
        self,
        ask: Callable[[Backend, Any], Any],
        both: Callable[[Callable[[], Any], Callable[[], Any]], tuple[Any, Any]],
    ) -> tuple[Any, Any]:
        """The versions of tasks and scoring: as pushed, else ask(backend, GetVersionRequest) (in parallel
        by both when neither is pushed); the streams are dialled on first use."""
        self.start()
        pushed = self.tasks.current(), self.scoring.current()
        if None not in pushed:
            return pushed
        tasks, scoring = self.tasks, self.scoring
        return both(
            lambda: pushed[0] or tasks.fetch(lambda request: ask(tasks.backend, request)),
            lambda: pushed[1] or scoring.fetch(lambda request: ask(scoring.backend, request)),
        )

    def wrote(self) -> None:
        """A write passed on to either service (either may change: an import writes both)."""
        self.tasks.wrote()
        self.scoring.wrote()
