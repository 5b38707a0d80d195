"""Faults on real parts: kill -9 of a service, a PostgreSQL cluster of the test's own stopped under load."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2
from sqlalchemy import create_engine, text

from services.common.result_wire import result_to_json_dict
from services.common.runtime import watch_database
from services.common.scheme import Scheme
from services.common.tls import TlsFiles, ensure_tls
from services.tasks.__main__ import SERVICE_NAME as TASKS_NAME
from tests.conftest import (
    PG_URL,
    SECRET,
    Stack,
    example_path,
    secure_channel,
    start_stack,
    stop_stack,
    user_token,
)
from tests.e2e.ports import free_port, free_port_base
from tests.e2e.test_cli import KAOHE, Served, _env

pytestmark = pytest.mark.slow
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
OK_OR_RETRY = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
UNITS = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


# ---- kill -9 of scoring while CreateRun is in flight


class Services:
    """tasks, scoring and the gateway as three `kaohe serve-one` processes over TLS, each killable alone."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.tls = ensure_tls(tmp / "pki", hosts=["127.0.0.1", "::1"])
        base = free_port_base()
        self.ports = {"gateway": base, "tasks": base + 1, "scoring": base + 2}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")},
            # The tests' secret, so that their tokens are good here.
            "KAOHE_SECRET": SECRET.decode(),
            "KAOHE_TASKS_ADDR": f"127.0.0.1:{base + 1}",
            "KAOHE_SCORING_ADDR": f"127.0.0.1:{base + 2}",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, service: str) -> None:
        env = {
            **self.env,
            "KAOHE_TLS_CA": str(self.tls.ca),
            "KAOHE_TLS_CERT": str(self.tls.cert(service)),
            "KAOHE_TLS_KEY": str(self.tls.key(service)),
        }
        log = (self.tmp / f"{service}.log").open("ab")
        self.processes[service] = subprocess.Popen(
            [
                KAOHE,
                "serve-one",
                service,
                "--port",
                str(self.ports[service]),
                "--metrics-port",
                str(free_port()),
                "--data-dir",
                str(self.data),
                "--scheme",
                str(example_path("scheme.toml")),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while not self._listening(service):
            if self.processes[service].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{service} did not start:\n" + (self.tmp / f"{service}.log").read_text()
                )
            time.sleep(0.1)

    def _listening(self, service: str) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.ports[service])) == 0

    def kill(self, service: str) -> None:
        self.processes[service].send_signal(signal.SIGKILL)
        self.processes[service].wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def channel(self) -> grpc.Channel:
        return secure_channel(self.tls, f"127.0.0.1:{self.ports['gateway']}")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    running = Services(tmp_path)
    try:
        for name in ("tasks", "scoring", "gateway"):
            running.start(name)
        yield running
    finally:
        running.stop()


def _big_ledger() -> bytes:
    """The sample county: enough tasks that a run takes a moment to compute."""
    from services.cli.sample import sample_county
    from services.common.scheme import load_scheme_file

    scheme = load_scheme_file(example_path("scheme.toml"))
    records = sample_county(scheme_text=scheme.text, year=scheme.year, until=None)
    return jsonl(records)


def test_kill_9_of_scoring_during_create_run_is_unavailable_and_stores_nothing_half(
    services: Services,
) -> None:
    channel = services.channel()
    office = (("authorization", f"Bearer {user_token('office')}"),)
    data = _big_ledger()
    pieces = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    gateway_pb2_grpc.GatewayServiceStub(channel).ImportLedger(
        iter([gateway_pb2.ImportLedgerRequest(data=p) for p in pieces]), metadata=office, timeout=300
    )
    scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
    started = time.perf_counter()
    scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025, omit_breakdown=True), metadata=office, timeout=120
    )
    seconds = time.perf_counter() - started

    codes: list[grpc.StatusCode] = []
    acknowledged: list[str] = []
    for attempt in range(4):
        outcome: dict[str, Any] = {}

        def call(outcome: dict[str, Any] = outcome) -> None:
            try:
                run = scoring.CreateRun(
                    scoring_pb2.CreateRunRequest(year=2025, omit_breakdown=True), metadata=office, timeout=120
                ).run
                outcome["code"], outcome["run"] = grpc.StatusCode.OK, run.id
            except grpc.RpcError as exc:
                outcome["code"] = exc.code()

        caller = threading.Thread(target=call)
        caller.start()
        # Somewhere inside the run's computation, earlier or later each time.
        time.sleep(seconds * (0.2 + 0.2 * attempt))
        services.kill("scoring")
        caller.join(timeout=150)
        codes.append(outcome["code"])
        if "run" in outcome:
            acknowledged.append(outcome["run"])
        services.start("scoring")
    assert set(codes) <= OK_OR_RETRY, codes
    assert grpc.StatusCode.UNAVAILABLE in codes, (codes, seconds)

    # The gateway dials scoring again with gRPC's backoff: a few seconds at most.
    deadline = time.monotonic() + 30
    while True:
        try:
            after = scoring.CreateRun(
                scoring_pb2.CreateRunRequest(year=2025, omit_breakdown=True), metadata=office, timeout=120
            ).run
            break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    runs = scoring.ListRuns(
        scoring_pb2.ListRunsRequest(year=2025, page_size=100), metadata=office, timeout=30
    )
    stored = [r.id for r in runs.runs]
    assert set(acknowledged) | {after.id} <= set(stored)
    # Each run stored is whole: its document names every unit, as the run made after the restart does.
    reference = scoring.GetRun(scoring_pb2.GetRunRequest(id=after.id), metadata=office, timeout=60).run
    units = len(result_to_json_dict(reference.result)["units"])
    assert units > 0
    for run_id in stored:
        whole = scoring.GetRun(scoring_pb2.GetRunRequest(id=run_id), metadata=office, timeout=60).run
        assert len(result_to_json_dict(whole.result)["units"]) == units, run_id
    channel.close()


# ---- kaohe serve again after a kill -9


def _serve(data: Path, base: int, log: Path) -> subprocess.Popen[bytes]:
    env = _env(base)
    env["XDG_CONFIG_HOME"] = str(data.parent / "config")
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                KAOHE,
                "serve",
                "--data-dir",
                str(data),
                "--port-base",
                str(base),
                "--scheme",
                str(example_path("scheme.toml")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _healthy_within(served: Served, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if served.kaohe("status", check=False).returncode == 0:
            return True
        if served.process.poll() is not None:
            return False
        time.sleep(0.25)
    return False


@pytest.mark.parametrize("victim", ["tasks", "scoring", "gateway"])
def test_serve_is_healthy_again_within_seconds_after_a_kill_9(tmp_path: Path, victim: str) -> None:
    """No "port taken" while only TIME-WAIT sockets of the killed process remain."""
    data, base, log = tmp_path / "data", free_port_base(), tmp_path / "serve.log"
    env = {**_env(base), "KAOHE_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    served = Served(_serve(data, base, log), env, data, log)
    try:
        assert _healthy_within(served, 60), log.read_text()
        # Connections to every port, so that the killed process leaves TIME-WAIT sockets behind.
        served.kaohe("import", str(example_path("ledger.jsonl")))
        served.kaohe("assess", "run", "--year", "2025")
        children = subprocess.run(
            ["pgrep", "-P", str(served.process.pid), "-f", f"serve-one {victim}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        os.kill(int(children[0]), signal.SIGKILL)
        assert served.process.wait(timeout=30) == 1
        started = time.monotonic()
        served = Served(_serve(data, base, log), env, data, log)
        # Healthy as soon as three processes start (a few seconds; more on a loaded CI machine), never
        # the minute TIME-WAIT sockets would hold the ports.
        assert _healthy_within(served, 30), log.read_text()
        assert time.monotonic() - started < 30
        assert "已被占用" not in log.read_text()
        listed = served.kaohe("tasks", "list", "--json")
        assert "T1" in listed.stdout
    finally:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGTERM)
            served.process.wait(timeout=30)


# ---- PostgreSQL stopped and started under load


def _until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Waits for the condition, looking every 0.1 s; fails naming what did not happen in time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise AssertionError(
            "initdb is missing: install PostgreSQL's server package (CI has it); "
            "this test starts a cluster of its own and never touches KAOHE_TEST_PG_URL's"
            + (f" ({PG_URL})" if PG_URL else "")
        )
    return Path(found[-1]).parent


class Cluster:
    """A PostgreSQL cluster under a temporary directory on a free port, run as postgres when we are root."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="kaohe-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    made.start()
    engine = create_engine(made.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE kaohe_tasks"))
        conn.execute(text("CREATE DATABASE kaohe_scoring"))
    engine.dispose()
    yield made
    made.remove()


@pytest.fixture
def pg_stack(
    cluster: Cluster, example_scheme: Scheme, tmp_path: Path, tls_files: TlsFiles
) -> Iterator[Stack]:
    running = start_stack(
        tasks_db=cluster.url("kaohe_tasks"),
        scoring_db=cluster.url("kaohe_scoring"),
        scheme=example_scheme,
        tmp=tmp_path,
        tls=tls_files,
    )
    yield running
    stop_stack(running)


def test_postgresql_stopped_and_started_under_load(cluster: Cluster, pg_stack: Stack) -> None:
    """While it is down: UNAVAILABLE, never INTERNAL; after: reconnected, every acknowledged write there."""
    pg_stack.import_ledger(jsonl(UNITS))
    part = pg_stack.parts["tasks"]
    # What `kaohe serve-one` runs next to each service: health follows the database.
    stop_watching = watch_database(part.db, part.health, ["", TASKS_NAME], every=0.3)
    health = health_pb2_grpc.HealthStub(pg_stack.channel(pg_stack.tasks_addr))

    def status() -> int:
        return int(health.Check(health_pb2.HealthCheckRequest(), timeout=5).status)

    _, tasks, _ = pg_stack.stubs()
    office = pg_stack.metadata("office")
    phase = {"name": "before"}
    seen: dict[str, list[grpc.StatusCode]] = {"before": [], "down": [], "after": []}
    acknowledged: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(worker: int) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            task_id = f"L{worker}-{number}"
            request = tasks_pb2.CreateTaskRequest(
                id=task_id, title="负载", task_type="leader_directive", lead_unit="fgj", request_id=task_id
            )
            try:
                tasks.CreateTask(request, metadata=office, timeout=15)
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            with lock:
                seen[phase["name"]].append(code)
                if code == grpc.StatusCode.OK:
                    acknowledged.append(task_id)

    def reader() -> None:
        while not stop.is_set():
            try:
                tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=10), metadata=office, timeout=15)
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            with lock:
                seen[phase["name"]].append(code)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [
        threading.Thread(target=reader)
    ]
    for worker in workers:
        worker.start()

    def answered(name: str, code: grpc.StatusCode, count: int) -> bool:
        with lock:
            return seen[name].count(code) >= count

    try:
        # Under load: each worker's calls answered.
        _until(lambda: answered("before", grpc.StatusCode.OK, 10), "the load answered before the stop")
        phase["name"] = "down"
        cluster.stop("immediate")
        # Down: the callers refused, and the health watch (every 0.3 s) has seen it.
        _until(lambda: answered("down", grpc.StatusCode.UNAVAILABLE, 1), "callers refused while down")
        _until(lambda: status() == NOT_SERVING, "health following the database down")
        down_status = status()
        cluster.start()
        phase["name"] = "after"
        _until(lambda: answered("after", grpc.StatusCode.OK, 10), "the load answered after the start")
        _until(lambda: status() == SERVING, "health following the database up")
        up_status = status()
    finally:
        stop.set()
        stop_watching()
        for worker in workers:
            worker.join(timeout=60)
    assert (down_status, up_status) == (NOT_SERVING, SERVING)
    every = seen["before"] + seen["down"] + seen["after"]
    assert set(every) <= OK_OR_RETRY, {c.name for c in every}
    assert grpc.StatusCode.UNAVAILABLE in seen["down"], [c.name for c in seen["down"]]
    assert seen["after"].count(grpc.StatusCode.OK) >= 10, "the services did not reconnect"
    engine = create_engine(cluster.url("kaohe_tasks"))
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT id FROM tasks WHERE id LIKE 'L%'"))]
    engine.dispose()
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))
