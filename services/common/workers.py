"""Several processes of one service sharing its port (SO_REUSEPORT): how many, started, watched, stopped."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.common.settings import ConfigError

log = logging.getLogger("kaohe.workers")
ENV_PROCESSES = {"gateway": "KAOHE_GATEWAY_PROCESSES", "web": "KAOHE_WEB_PROCESSES"}
# Set in a worker's environment: the pid of the supervisor it belongs to.
ENV_WORKER_OF = "KAOHE_WORKER_OF"
ENV_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
# Set in a worker's environment: a private folder (0700) the workers share, gone when they stop.
ENV_WORKER_DIR = "KAOHE_WORKER_DIR"
MAX_PROCESSES = 16
# "auto": one process per CPU, no more than this (each holds its own caches and connections).
AUTO_CAP = 4
# A worker stops within its gRPC grace (5 s); `kaohe serve` waits 10 s for a supervisor to finish its stop.
STOP_SECONDS = 7.0
_PR_SET_PDEATHSIG = 1


def process_count(service: str) -> int:
    """KAOHE_GATEWAY_PROCESSES / KAOHE_WEB_PROCESSES: 1 unless set; "auto" is the CPUs, at most 4."""
    name = ENV_PROCESSES[service]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 1
    if raw == "auto":
        return max(1, min(os.cpu_count() or 1, AUTO_CAP))
    rule = f"{name} 须为 1 到 {MAX_PROCESSES} 的整数或 auto，不能是 {raw!r}"
    try:
        count = int(raw)
    except ValueError:
        raise ConfigError(rule) from None
    if not 1 <= count <= MAX_PROCESSES:
        raise ConfigError(rule)
    return count


def shared_folder() -> Path | None:
    """In a worker, the folder its supervisor made for the workers to share; else None."""
    folder = os.environ.get(ENV_WORKER_DIR)
    return Path(folder) if folder and is_worker() else None


def is_worker() -> bool:
    """Whether this process is one of several sharing a port (started by supervise)."""
    return bool(os.environ.get(ENV_WORKER_OF))


def follow_supervisor() -> None:
    """A worker gets SIGTERM when its supervisor dies, however it dies: never an orphan on the port."""
    supervisor = int(os.environ.get(ENV_WORKER_OF, "0") or 0)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The supervisor may have died before prctl took hold.
    if supervisor and os.getppid() != supervisor:
        raise SystemExit(1)


def die_with_parent() -> Callable[[], None]:
    """For subprocess.Popen(preexec_fn=…): the child gets SIGTERM when this process dies, however it dies
    (kill -9 included), so that no service of a dead `kaohe serve` holds its port or reports healthy."""
    parent = os.getpid()
    # Loaded here, in the parent: the child between fork and exec only calls into it.
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def arm() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died before prctl took hold.
        if os.getppid() != parent:
            os._exit(1)

    return arm


def port_free(host: str, port: int) -> bool:
    """Whether nobody listens on host:port, even somebody who shares with SO_REUSEPORT.

    The probe does not set SO_REUSEPORT, so a port another server holds (shared or not) is taken;
    TIME-WAIT sockets of a killed process do not count (SO_REUSEADDR, as the servers bind).
    """
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def supervise(
    service: str,
    count: int,
    command: list[str],
    *,
    address: tuple[str, int],
    metrics: Callable[[str], Callable[[], None]] | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    """Runs count copies of command (each binds the port with SO_REUSEPORT) until SIGTERM/SIGINT.

    The workers share a private folder (KAOHE_WORKER_DIR), removed when they stop. metrics, given the
    folder in it the workers write their Prometheus values to, serves /metrics for them all and returns
    its stop. A worker that dies stops the others: exit 1 (2 if it could not start), so that
    `kaohe serve`, systemd or Kubernetes sees the service down rather than half up. The first worker
    starts alone until it listens on address: a bad configuration is said once, by it, not by each;
    ready is called once it listens.
    """
    _sweep()
    folder = tempfile.mkdtemp(prefix=f"kaohe-{service}-workers-{os.getpid()}-")
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    values = os.path.join(folder, "metrics")
    os.mkdir(values, 0o700)
    try:
        stop_metrics = metrics(values) if metrics is not None else None
    except ConfigError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"kaohe serve-one {service}: {exc}", file=sys.stderr, flush=True)
        return 2
    env = {**os.environ, ENV_WORKER_OF: str(os.getpid()), ENV_WORKER_DIR: folder, ENV_MULTIPROC: values}
    started = time.monotonic()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = _start_workers(command, env, count, address=address, stopping=stopping.is_set, ready=ready)
        log.info("workers started", extra={"of": service, "pids": [w.pid for w in workers]})
        return _watch(service, workers, started=started, stopping=stopping.is_set)
    finally:
        _stop_workers(workers)
        try:
            if stop_metrics is not None:
                stop_metrics()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _start_workers(
    command: list[str],
    env: dict[str, str],
    count: int,
    *,
    address: tuple[str, int],
    stopping: Callable[[], bool],
    ready: Callable[[], None] | None,
) -> list[subprocess.Popen[bytes]]:
    """The first worker alone until it listens on address (or dies), then ready, then the others."""
    workers = [subprocess.Popen(command, env=env)]
    while not stopping() and workers[0].poll() is None and not _listening(*address):
        time.sleep(0.1)
    if workers[0].poll() is None and not stopping():
        if ready is not None:
            ready()
        workers += [subprocess.Popen(command, env=env) for _ in range(count - 1)]
    return workers


def _watch(
    service: str, workers: list[subprocess.Popen[bytes]], *, started: float, stopping: Callable[[], bool]
) -> int:
    """0 at a signal; 1 when a worker dies (2 when it could not start: its configuration error stands)."""
    while not stopping():
        dead = [w for w in workers if w.poll() is not None]
        if dead:
            # A worker that could not start said why on stderr: its code (2, a configuration error) stands.
            early = time.monotonic() - started < 30 and dead[0].returncode == 2
            log.error(
                "a worker stopped; stopping the others",
                extra={"of": service, "pid": dead[0].pid, "exit": dead[0].returncode},
            )
            return 2 if early else 1
        time.sleep(0.2)
    return 0


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each, then SIGKILL to any not stopped within STOP_SECONDS."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        try:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _sweep() -> None:
    """Removes the folders of supervisors killed outright (kill -9): their workers followed them."""
    for path in Path(tempfile.gettempdir()).glob("kaohe-*-workers-*-*"):
        try:
            pid = int(path.name.split("-")[3])
            if path.stat().st_uid != os.getuid() or pid == os.getpid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


def _listening(host: str, port: int) -> bool:
    """Whether something accepts connections on host:port (a wildcard host: on loopback)."""
    host = host.strip("[]")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def multiprocess_registry(folder: str) -> Any:
    """A registry that reads every worker's values from folder (prometheus_client multiprocess mode)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    return registry
