"""`kaohe serve` with two gateway and two console processes on one port each (SO_REUSEPORT)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from tests.conftest import example_path
from tests.e2e.ports import free_ports

KAOHE = str(Path(sys.executable).parent / "kaohe")
pytestmark = pytest.mark.slow


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    base: int
    log: Path

    def group(self) -> list[int]:
        found = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def workers(self, service: str) -> list[int]:
        """The pids of service's workers: `serve-one service` processes started by a supervisor."""
        pids = []
        for pid in self.group():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                b"serve-one" in command
                and service.encode() in command
                and any(entry.startswith(b"KAOHE_WORKER_OF=") for entry in environ)
            ):
                pids.append(pid)
        return pids

    def healthy(self) -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{self.base}") as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def login(self, password: str) -> grpc.RpcError | None:
        """One Login as admin on a connection of its own (so the kernel picks a worker each time)."""
        with grpc.insecure_channel(
            f"127.0.0.1:{self.base}", options=[("grpc.use_local_subchannel_pool", 1)]
        ) as channel:
            try:
                accounts_pb2_grpc.AccountsServiceStub(channel).Login(
                    accounts_pb2.LoginRequest(username="admin", password=password), timeout=30
                )
            except grpc.RpcError as exc:
                return exc
        return None

    def change_password(self, old: str, new: str) -> str:
        """admin's one-time password changed (as the console makes its user do at first login): new."""
        with grpc.insecure_channel(f"127.0.0.1:{self.base}") as channel:
            accounts = accounts_pb2_grpc.AccountsServiceStub(channel)
            first = accounts.Login(accounts_pb2.LoginRequest(username="admin", password=old), timeout=30)
            assert first.must_change_password
            accounts.ChangePassword(
                accounts_pb2.ChangePasswordRequest(current_password=old, new_password=new),
                metadata=(("authorization", f"Bearer {first.token}"),),
                timeout=30,
            )
        return new


def _start(tmp_path: Path, base: int | None = None) -> Stack:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
    env.update({"KAOHE_GATEWAY_PROCESSES": "2", "KAOHE_WEB_PROCESSES": "2", "TMPDIR": _own_tmp(tmp_path)})
    for attempt in range(1 if base else 5):
        base = base or free_ports((0, 1, 2, 10, 11, 12, 30))
        log = tmp_path / f"serve-{attempt}-{base}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *[KAOHE, "serve", "--plaintext", "--data-dir", str(tmp_path / "data")],
                    *["--port-base", str(base), "--scheme", str(example_path("scheme.toml"))],
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = Stack(process, base, log)
        for _ in range(240):
            if process.poll() is not None:
                break
            if len(stack.workers("web")) == 2 and len(stack.workers("gateway")) == 2 and stack.healthy():
                return stack
            time.sleep(0.25)
        else:
            os.killpg(process.pid, signal.SIGTERM)
            raise AssertionError("the stack did not become healthy:\n" + log.read_text())
        if "已被占用" not in log.read_text():
            raise AssertionError(f"kaohe serve exited {process.returncode}:\n" + log.read_text())
    raise AssertionError("kaohe serve found its ports taken five times running")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    served = _start(tmp_path)
    yield served
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGKILL)
        served.process.wait(timeout=20)


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_processes_share_each_port_keep_one_throttle_and_stop_together(
    stack: Stack, tmp_path: Path
) -> None:
    gateways, consoles = stack.workers("gateway"), stack.workers("web")
    assert len(gateways) == 2 and len(consoles) == 2
    one_time = (tmp_path / "data" / "first-office-password").read_text().strip()
    # Never in the log: without a terminal, only in the data directory's file (0600).
    assert one_time not in stack.log.read_text() and "first-office-password" in stack.log.read_text()
    assert (tmp_path / "data" / "first-office-password").stat().st_mode & 0o777 == 0o600
    password = stack.change_password(one_time, "the office's own password")

    # Every call answered on the shared port, and both workers took some (each has its metrics file).
    for _ in range(24):
        assert stack.login(password) is None
    folder = next(
        entry.split(b"=", 1)[1].decode()
        for entry in Path(f"/proc/{gateways[0]}/environ").read_bytes().split(b"\0")
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
    )
    served_by = {int(m.group(1)) for m in map(re.compile(r"_(\d+)\.db$").search, os.listdir(folder)) if m}
    assert set(gateways) <= served_by
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.base + 10}/metrics", timeout=10) as reply:
        scraped = reply.read().decode()
    # One scrape counts the calls of both processes.
    assert _metric(scraped, "kaohe_grpc_server_requests_total", method="Login", code="OK") >= 24

    # A browser logged in through one console process is known to both: every request a new connection.
    console = f"http://127.0.0.1:{stack.base + 30}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = opener.open(f"{console}/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    body = urllib.parse.urlencode({"csrf": csrf.group(1), "username": "admin", "password": password})
    with opener.open(f"{console}/login", data=body.encode(), timeout=60) as reply:
        assert reply.url.endswith("/office")
    for _ in range(12):
        with opener.open(f"{console}/office", timeout=60) as page:
            assert page.url.endswith("/office") and "全县态势" in page.read().decode()

    # Failed logins counted by whichever process took them lock the account in all of them.
    refusals = [stack.login("not-the-password") for _ in range(6)]
    assert all(r is not None and r.code() == grpc.StatusCode.UNAUTHENTICATED for r in refusals)
    locked = [stack.login(password) for _ in range(4)]
    assert all(r is not None and "登录失败次数过多" in (r.details() or "") for r in locked)

    everyone = stack.group()
    assert len(everyone) >= 9  # serve, tasks, scoring, two supervisors, four workers
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) in (0, 1)
    for _ in range(40):
        if not stack.group():
            break
        time.sleep(0.25)
    assert stack.group() == []
    # Each supervisor removed its workers' folder itself (the log says how the stop went if not).
    assert not os.path.exists(folder), stack.log.read_text()


def test_a_killed_supervisor_takes_its_workers_with_it(stack: Stack, tmp_path: Path) -> None:
    gateways = stack.workers("gateway")
    supervisor = {int(Path(f"/proc/{pid}/stat").read_text().split()[3]) for pid in gateways}
    assert len(supervisor) == 1
    folder = Path(_environ(gateways[0])["KAOHE_WORKER_DIR"])
    os.kill(supervisor.pop(), signal.SIGKILL)
    # `kaohe serve` sees its gateway gone and stops the rest; the workers follow their supervisor.
    assert stack.process.wait(timeout=60) == 1
    for _ in range(40):
        if not stack.group():
            break
        time.sleep(0.25)
    assert stack.group() == []
    # Its folder outlived it; the next supervisor to start removes it.
    assert folder.exists()
    _serve_one(tmp_path, "web", free_ports(), KAOHE_WEB_PROCESSES="2", KAOHE_WEB_BIND_HOST="0.0.0.0")
    assert not folder.exists()


def _own_tmp(tmp_path: Path) -> str:
    """The test's own temporary folder: a supervisor removes the stale worker folders it finds in its
    temporary folder, so another test's supervisor starting meanwhile would remove this test's."""
    folder = tmp_path / "tmp"
    folder.mkdir(exist_ok=True)
    return str(folder)


def _serve_one(tmp_path: Path, service: str, port: int, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
    env.update({"TMPDIR": _own_tmp(tmp_path), **variables})
    command = [KAOHE, "serve-one", service, "--port", str(port)]
    if service == "gateway":
        command += ["--metrics-port", str(free_ports()), "--plaintext", "--data-dir", str(tmp_path / "d")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("service", ["gateway", "web"])
def test_a_taken_port_or_a_bad_count_is_one_line_and_no_workers(tmp_path: Path, service: str) -> None:
    variable = {"gateway": "KAOHE_GATEWAY_PROCESSES", "web": "KAOHE_WEB_PROCESSES"}[service]
    port = free_ports()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even a listener that shares
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = _serve_one(tmp_path, service, port, **{variable: "2"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"kaohe serve-one {service}: 端口 {port}"
        + ("（网关 gRPC）已被占用" if service == "gateway" else "（网页控制台）已被占用")
    ]
    for wrong in ("0", "many", "17"):
        result = _serve_one(tmp_path, service, free_ports(), **{variable: wrong})
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert variable in line and "1 到 16" in line and repr(wrong) in line


@pytest.mark.parametrize(
    ("service", "variables", "said"),
    [
        ("gateway", {}, "没有密钥：请设置 KAOHE_SECRET"),
        ("web", {"KAOHE_WEB_BIND_HOST": "0.0.0.0"}, "请给它证书"),
    ],
)
def test_a_configuration_the_workers_refuse_is_said_once(
    tmp_path: Path, service: str, variables: dict[str, str], said: str
) -> None:
    variable = {"gateway": "KAOHE_GATEWAY_PROCESSES", "web": "KAOHE_WEB_PROCESSES"}[service]
    result = _serve_one(tmp_path, service, free_ports(), **{variable: "3", **variables})
    assert result.returncode == 2
    # Log lines (a time first, or JSON with KAOHE_LOG_FORMAT=json) are not what is said to the person.
    lines = [line for line in result.stderr.splitlines() if not re.match(r"\{|\d\d:\d\d:\d\d ", line)]
    assert len(lines) == 1 and said in lines[0], result.stderr


def test_kill_9_of_serve_takes_every_child_with_it_and_a_new_serve_starts_on_its_ports(
    stack: Stack, tmp_path: Path
) -> None:
    children = [pid for pid in stack.group() if pid != stack.process.pid]
    assert len(children) >= 8  # tasks, scoring, two supervisors, four workers
    assert f"网页控制台 http://127.0.0.1:{stack.base + 30}/" in stack.log.read_text()
    os.kill(stack.process.pid, signal.SIGKILL)
    stack.process.wait(timeout=20)
    # Every child follows (PR_SET_PDEATHSIG): waited for as a condition, bounded.
    deadline = time.monotonic() + 30
    while stack.group() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.group() == []
    again = _start(tmp_path, base=stack.base)
    try:
        assert again.healthy()
    finally:
        os.killpg(again.process.pid, signal.SIGTERM)
        again.process.wait(timeout=60)
