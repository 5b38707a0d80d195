"""Reads on a real PostgreSQL streaming replica (issue 21, item 4), started here: initdb, pg_basebackup -R.

The read-heavy calls of the tasks and scoring services go to the replica; the caller who just wrote reads
its write (the replica waited for, or the primary); the replica stopped under load or lagging past the
bound changes nothing a user sees.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from sqlalchemy import create_engine, text

from services.common.read_routing import ReadLimits
from services.common.scheme import Scheme
from services.common.tls import TlsFiles
from tests.conftest import Stack, start_stack, stop_stack
from tests.integration.test_tasks_loop import UNITS, jsonl

BIN = next(
    (p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (p / "initdb").exists()),
    None,
)


def _postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        BIN is None, reason="PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
    ),
    pytest.mark.skipif(
        os.geteuid() == 0 and not _postgres_user(),
        reason="running as root without a postgres OS user to run the clusters as (initdb refuses root)",
    ),
]
OFFICE = ("office", None)
FGJ = ("department", "fgj")
VIEWER = ("viewer", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    """Polls condition until it gives something true; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


@dataclass
class Clusters:
    """A primary and its streaming replica in a temporary directory, run as the postgres OS user."""

    root: Path
    primary_port: int
    replica_port: int

    def run(self, *args: str) -> str:
        assert BIN is not None
        command = [str(BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}\n{done.stderr}"
        return done.stdout

    def url(self, port: int, schema: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres?options=-csearch_path%3D{schema}"

    def sql(self, port: int, statement: str) -> Any:
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def wait_paused(self) -> None:
        """Replay paused on the replica, and waited for until it is."""
        self.sql(self.replica_port, "SELECT pg_wal_replay_pause()")
        state = "SELECT pg_get_wal_replay_pause_state()"
        wait_for(lambda: self.sql(self.replica_port, state) == "paused", what="replay paused")

    def start_replica(self) -> None:
        self.run("pg_ctl", "-D", "replica", "-l", "replica.log", "-w", "start")

    def stop_replica(self) -> None:
        self.run("pg_ctl", "-D", "replica", "-m", "fast", "-w", "stop")

    def replica_running(self) -> bool:
        return (self.root / "replica" / "postmaster.pid").exists()


def _start_clusters() -> Clusters:
    root = Path(tempfile.mkdtemp(prefix="kaohe-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    clusters = Clusters(root, _free_port(), _free_port())
    try:
        _init(clusters)
    except BaseException:
        _stop_clusters(clusters)
        raise
    return clusters


def _stop_clusters(clusters: Clusters) -> None:
    for name in ("replica", "primary"):
        if (clusters.root / name / "postmaster.pid").exists():
            clusters.run("pg_ctl", "-D", name, "-m", "immediate", "-w", "stop")
    shutil.rmtree(clusters.root, ignore_errors=True)


def _init(clusters: Clusters) -> None:
    """initdb, the primary started, pg_basebackup -R, the replica started."""
    root = clusters.root
    clusters.run("initdb", "-D", "primary", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
    settings = [
        f"port = {clusters.primary_port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{root}'",
        "wal_level = replica",
        "max_wal_senders = 4",
        "hot_standby = on",
        "hot_standby_feedback = on",
        "fsync = off",
        "full_page_writes = off",
    ]
    with (root / "primary" / "postgresql.conf").open("a") as conf:
        conf.write("\n".join(settings) + "\n")
    clusters.run("pg_ctl", "-D", "primary", "-l", "primary.log", "-w", "start")
    port = str(clusters.primary_port)
    clusters.run("pg_basebackup", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-D", "replica", "-R")
    with (root / "replica" / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {clusters.replica_port}\n")
    clusters.start_replica()


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    running = _start_clusters()
    try:
        yield running
    finally:
        _stop_clusters(running)


@pytest.fixture(scope="module")
def replicated(
    clusters: Clusters, example_scheme: Scheme, tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles
) -> Iterator[Stack]:
    """The three services, tasks and scoring each on a schema of the primary with the replica to read."""
    urls: dict[str, str] = {}
    reads: dict[str, str] = {}
    for name in ("tasks", "scoring"):
        schema = f"r_{name}_{uuid.uuid4().hex[:8]}"
        clusters.sql(clusters.primary_port, f'CREATE SCHEMA "{schema}"')
        urls[name] = clusters.url(clusters.primary_port, schema)
        reads[name] = clusters.url(clusters.replica_port, schema)
    stack = start_stack(
        tasks_db=urls["tasks"],
        scoring_db=urls["scoring"],
        scheme=example_scheme,
        tmp=tmp_path_factory.mktemp("replicated"),
        tls=tls_files,
        read_urls=reads,
    )
    try:
        # A reading of 2025, so that 2025 has something to assess (the overview's standing).
        reading = {"type": "metric_reading", "unit": "fgj", "metric": "court_appearance_rate"}
        stack.import_ledger(jsonl([*UNITS, {**reading, "period": "2025", "numerator": 1, "denominator": 1}]))
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture
def stack(replicated: Stack, clusters: Clusters) -> Stack:
    """The replicated stack with its replica running, replaying, in use, under the default bounds."""
    if not clusters.replica_running():
        clusters.start_replica()
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
    for name in ("tasks", "scoring"):
        router = replicated.parts[name].db.router
        router.limits = ReadLimits(max_lag=30.0, wait=0.25)
        wait_for(lambda router=router: router.usable() == "replica", what=f"{name}'s replica in use")
    return replicated


def reads(stack: Stack, service: str) -> dict[str, float]:
    """kaohe_db_reads_total of one service by reason, from its /metrics registry."""
    found: dict[str, float] = {}
    for metric in stack.parts[service].registry.collect():
        for sample in metric.samples:
            if sample.name == "kaohe_db_reads_total":
                found[sample.labels["reason"]] = sample.value
    return found


def create_task(stack: Stack, title: str) -> str:
    _, tasks, _ = stack.stubs()
    request = tasks_pb2.CreateTaskRequest(
        title=title, task_type="leader_directive", lead_unit="fgj", assign_now=True
    )
    return str(tasks.CreateTask(request, metadata=stack.metadata(*OFFICE), timeout=10).task.id)


def titles(stack: Stack, actor: tuple[str, str | None]) -> set[str]:
    _, tasks, _ = stack.stubs()
    listed = tasks.ListTasks(
        tasks_pb2.ListTasksRequest(unit="fgj", page_size=1000), metadata=stack.metadata(*actor), timeout=10
    )
    return {t.title for t in listed.tasks}


def test_the_caller_who_wrote_reads_the_write_even_while_the_replica_stands_still(
    stack: Stack, clusters: Clusters
) -> None:
    clusters.wait_paused()
    before = reads(stack, "tasks")
    title = f"读己之写 {uuid.uuid4().hex[:6]}"
    create_task(stack, title)
    # The office wrote: its own read waits for the replica (paused: in vain) and then reads the primary.
    assert title in titles(stack, OFFICE)
    assert reads(stack, "tasks").get("behind", 0) > before.get("behind", 0)
    # Somebody else reads the replica, which has not replayed the write yet: proof the replica serves.
    assert title not in titles(stack, FGJ)
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
    wait_for(lambda: title in titles(stack, FGJ), what="the replica to replay the write")


def test_reads_by_others_go_to_the_replica(stack: Stack, clusters: Clusters) -> None:
    title = f"副本读 {uuid.uuid4().hex[:6]}"
    create_task(stack, title)
    wait_for(lambda: title in titles(stack, FGJ), what="the replica to show the task")
    before = {name: reads(stack, name).get("replica", 0) for name in ("tasks", "scoring")}
    gateway, tasks, scoring = stack.stubs()
    metadata = stack.metadata(*FGJ)
    tasks.SummarizeTasks(tasks_pb2.SummarizeTasksRequest(year=2025), metadata=metadata, timeout=10)
    scoring.ListRecords(scoring_pb2.ListRecordsRequest(), metadata=metadata, timeout=10)
    scoring.ListRuns(scoring_pb2.ListRunsRequest(), metadata=metadata, timeout=10)
    gateway.GetOverview(gateway_pb2.GetOverviewRequest(year=2025), metadata=metadata, timeout=30)
    after = {name: reads(stack, name).get("replica", 0) for name in ("tasks", "scoring")}
    assert after["tasks"] >= before["tasks"] + 2, (before, after)
    assert after["scoring"] >= before["scoring"] + 2, (before, after)
    # And the replica's server is the one answering them: its sessions are the service's.
    sessions = clusters.sql(
        clusters.replica_port, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
    )
    assert sessions >= 2


def test_a_replica_lagging_past_the_bound_is_not_read(stack: Stack, clusters: Clusters) -> None:
    router = stack.parts["tasks"].db.router
    router.limits = ReadLimits(max_lag=1.0, wait=0.05)
    clusters.wait_paused()
    title = f"延迟 {uuid.uuid4().hex[:6]}"
    create_task(stack, title)
    wait_for(lambda: router.lag() > 1.0, what="the replica's lag to pass the bound")
    before = reads(stack, "tasks").get("lagging", 0)
    # Another caller, who never wrote: the lagging replica would not have the task; the primary does.
    assert title in titles(stack, VIEWER)
    assert reads(stack, "tasks").get("lagging", 0) > before
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
    wait_for(lambda: router.usable() == "replica", what="the replica back within the bound")


def test_the_replica_stopped_under_load_changes_nothing_a_user_sees(stack: Stack, clusters: Clusters) -> None:
    title = f"停机 {uuid.uuid4().hex[:6]}"
    create_task(stack, title)
    wait_for(lambda: title in titles(stack, FGJ), what="the replica to show the task")
    errors: list[BaseException] = []
    answers: list[bool] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                answers.append(title in titles(stack, FGJ))
            except BaseException as exc:  # every failure is what the test looks for
                errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(answers) >= 10, what="reads under way")
        clusters.stop_replica()
        served = len(answers)
        down = reads(stack, "tasks").get("down", 0)
        wait_for(lambda: len(answers) >= served + 20, what="reads after the replica stopped")
        assert reads(stack, "tasks").get("down", 0) > down
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert not errors, errors[:3]
    assert all(answers)
