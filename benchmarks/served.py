"""`kaohe serve` as people run it (separate processes) on fresh PostgreSQL databases, and the CLI against it.

Timed from outside: each command is a subprocess; each process's peak resident memory is its VmHWM, reset
(/proc/<pid>/clear_refs) before the step measured; a command's own is read until it exits.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from benchmarks.kernel import ROOT
from benchmarks.ledger import SCHEME

COMMAND = [sys.executable, "-m", "services.cli.main"]


def pg_dsn(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_databases(server_url: str) -> Iterator[dict[str, str]]:
    """Two new databases (tasks, scoring) on server_url's server, created here and dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    tag = uuid.uuid4().hex[:8]
    names = {service: f"kaohe_bench_{tag}_{service}" for service in ("tasks", "scoring")}
    with psycopg.connect(pg_dsn(server_url), autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            service: make_url(server_url).set(database=name).render_as_string(hide_password=False)
            for service, name in names.items()
        }
    finally:
        with psycopg.connect(pg_dsn(server_url), autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Timed:
    """A command's wall time from outside, its own peak resident memory and what it printed."""

    seconds: float
    peak_kib: int
    stdout: str
    cpu_seconds: float = 0.0


class Served:
    """`kaohe serve --plaintext` on a free port base, with the worked example's scheme and the given
    databases; stopped (its whole process group) on close."""

    def __init__(self, tmp: Path, urls: dict[str, str]) -> None:
        self.data = tmp / "data"
        self.base = port_base()
        self.env = {
            **os.environ,
            "KAOHE_TASKS_DB_URL": urls["tasks"],
            "KAOHE_SCORING_DB_URL": urls["scoring"],
        }
        options = ["--data-dir", str(self.data), "--port-base", str(self.base), "--plaintext"]
        self.process = subprocess.Popen(
            [*COMMAND, "serve", "--scheme", str(SCHEME), *options],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.options = ["--gateway", self.gateway, "--plaintext", "--data-dir", str(self.data)]
        try:
            self._wait_up()
        except BaseException:
            self.close()
            raise

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.base}"

    @property
    def tasks(self) -> str:
        return f"127.0.0.1:{self.base + 1}"

    @property
    def scoring(self) -> str:
        return f"127.0.0.1:{self.base + 2}"

    def cli(self, *args: str) -> Timed:
        """`kaohe ARGS` against this stack, timed from here; refused unless it exits 0."""
        return run_measured([*COMMAND, *args, *self.options], env=self.env)

    def processes(self) -> dict[str, int]:
        """The pid of serve and of each process below it, by name (gateway, tasks, scoring, web, …)."""
        found = {"serve": self.process.pid}
        for pid in _descendants(self.process.pid):
            name = _service_of(pid)
            if name:
                found[name if name not in found else f"{name}.{pid}"] = pid
        return found

    def reset_peaks(self) -> None:
        """Every process's peak resident memory set back to its current one (Linux clear_refs 5)."""
        for pid in self.processes().values():
            with suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peaks_kib(self) -> dict[str, int]:
        """Each process's peak resident memory since the last reset."""
        return {name: _status_kib(pid, "VmHWM") for name, pid in self.processes().items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time each process has used so far (user + system)."""
        return {name: cpu_seconds(pid) for name, pid in self.processes().items()}

    def close(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 120
        probe = [*COMMAND, "units", "list", *self.options]
        while subprocess.run(probe, cwd=ROOT, env=self.env, capture_output=True).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kaohe serve did not come up (exit {self.process.returncode})")
            time.sleep(0.5)


def run_measured(command: list[str], *, env: dict[str, str]) -> Timed:
    """command run to its end, timed; its own peak resident memory and CPU time.

    The peak is the child's VmHWM, read every 20 ms until it exits: wait4's ru_maxrss would count this
    process's memory at the fork too.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        peak_kib = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _status_kib(child.pid, "VmHWM"))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, complained = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed ({child.returncode}): {printed}{complained}")
    return Timed(seconds, peak_kib, printed, usage.ru_utime + usage.ru_stime)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of pid so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _status_kib(pid: int, field: str) -> int:
    try:
        rows = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(r.split()[1]) for r in rows if r.startswith(f"{field}:")), 0)


def _service_of(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return args[args.index(b"serve-one") + 1].decode() if b"serve-one" in args else ""


def port_base() -> int:
    """A port base N with N .. N+40 free on loopback, drawn at random: other benches probe from the bottom."""
    for _ in range(200):
        base = random.randrange(55000, 64000, 50)
        try:
            for offset in (0, 1, 2, 10, 11, 12, 20, 30):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for kaohe serve")
