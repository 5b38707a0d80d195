"""`kaohe serve` (the services as processes, watched) and `kaohe serve-one` (one service's own main).

Each service builds and runs itself (services/NAME/__main__.py): its server, background loops, /metrics and
health. `kaohe serve` only prepares the data dir (secret, certificates), launches the processes, watches
them, imports the sample county when asked, and relays what the gateway leaves for the operator (the first
office account's one-time password).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import tls, workers
from services.common.auth import load_secret, make_user_identity
from services.common.db import Database
from services.common.errors import DomainError
from services.common.files import private_dir
from services.common.process import ServiceOptions
from services.common.runtime import load_scheme_or_fail
from services.common.settings import FIRST_PASSWORD_FILE, ConfigError, Settings, load
from services.common.tokens import issue_user_token, load_token_keys
from services.common.vocabulary import LEDGER_LINE_TYPES
from services.notify.config import notify_config_from

SERVICES = ("tasks", "scoring", "gateway")
# Longer than a supervisor's own stop (workers.STOP_SECONDS, then SIGKILL to its workers), so that a
# supervisor is never killed halfway through it and leaves its workers' folder behind.
STOP_SECONDS = 10.0


def _say(message: str) -> None:
    print(f"kaohe serve: {message}", file=sys.stderr, flush=True)


def serve_one(
    service: str,
    *,
    port: int,
    metrics_port: int | None,
    data_dir: str | None,
    scheme: str | None,
    plaintext: bool = False,
    notify: str | None = None,
) -> int:
    """Runs one service in this process, by its own main, until SIGTERM/SIGINT (bad configuration: exit 2)."""
    if service == "web":
        from services.web.__main__ import main as serve_web

        return serve_web(port=port)
    options = ServiceOptions(service, port, metrics_port, data_dir, scheme, plaintext, notify)
    run: Any = import_module(f"services.{service}.__main__").run
    return int(run(options))


def _ports(settings: Settings) -> dict[str, int]:
    return {"gateway": settings.gateway_port, "tasks": settings.tasks_port, "scoring": settings.scoring_port}


def _preflight(settings: Settings, notify: str | None) -> None:
    """What would stop a service from starting, said once here: the scheme, the reminders file, the data
    dir and its secret, the ports, the tasks and scoring databases (the gateway opens its own)."""
    load_scheme_or_fail(settings.scheme_path)
    notify_config_from(notify)
    private_dir(settings.data_dir)
    load_secret(settings.data_dir, create=True)
    for service, port in _ports(settings).items():
        host = settings.gateway_bind_host if service == "gateway" else settings.bind_host
        for what, where, number in (
            ("gRPC", host, port),
            ("/metrics", settings.metrics_host, settings.metrics_port(service)),
        ):
            if not workers.port_free(where, number):
                raise ConfigError(f"端口 {number}（{service} {what}）已被占用；请换一个 --port-base")
    web_host = os.environ.get("KAOHE_WEB_BIND_HOST", "127.0.0.1")
    if not workers.port_free(web_host, settings.port_base + 30):
        raise ConfigError(f"端口 {settings.port_base + 30}（网页控制台）已被占用；请换一个 --port-base")
    for url in (settings.tasks_db_url, settings.scoring_db_url):
        db = Database(url)
        try:
            db.check()
        finally:
            db.dispose()


def _channel(target: str, files: tls.TlsFiles | None, service: str) -> grpc.Channel:
    """To one of our services as the gateway would call it (its certificate), or plaintext."""
    if files is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(
        target,
        tls.channel_credentials(files.config("gateway")),
        options=[("grpc.ssl_target_name_override", service)],
    )


def _healthy(target: str, files: tls.TlsFiles | None, service: str) -> bool:
    try:
        with _channel(target, files, service) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def _certificate_hosts(settings: Settings) -> list[str]:
    """The names the certificates carry: loopback, the bind hosts unless wildcards, KAOHE_TLS_HOSTS."""
    extra = [h.strip() for h in os.environ.get("KAOHE_TLS_HOSTS", "").split(",") if h.strip()]
    hosts = ["127.0.0.1", "::1", settings.bind_host, settings.gateway_bind_host, *extra]
    return [h for h in dict.fromkeys(hosts) if h not in ("", "0.0.0.0", "::", "[::]")]


def _prepare(settings: Settings, *, plaintext: bool, notify: str | None) -> tls.TlsFiles | None:
    """Checks what would stop the stack; unless plaintext, DIR/tls/ (made at first start), its CA told to
    this user's command line. Raises ConfigError (one line) for what stops it."""
    _preflight(settings, notify)
    files = None if plaintext else tls.ensure_tls(settings.data_dir, hosts=_certificate_hosts(settings))
    if files is not None:
        try:
            tls.record_trust(f"127.0.0.1:{settings.gateway_port}", files.ca)
        except OSError as exc:
            _say(f"未能为命令行记下 CA（{exc}）；请设置 {tls.ENV_CA}={files.ca}")
    return files


def serve(
    *,
    data_dir: str | None,
    port_base: int | None,
    scheme: str | None,
    sample: bool,
    plaintext: bool = False,
    notify: str | None = None,
) -> int:
    """Starts the three services and the console as processes and watches them; stops them all on a signal
    or a death. Each child gets its own certificate; the CLI is told which CA the gateway's port has."""
    try:
        settings = load(data_dir=data_dir, port_base=port_base, scheme=scheme)
        hosts = {settings.bind_host, settings.gateway_bind_host} if plaintext else set()
        for host in sorted(h for h in hosts if not tls.is_loopback(h)):
            _say(f"--plaintext 只用于本机回环地址上的开发，不能用于 {host}")
            return 2
        files = _prepare(settings, plaintext=plaintext, notify=notify)
    except (ConfigError, DomainError, OSError) as exc:
        _say(str(exc))
        return 1
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    password = FirstPassword(settings.data_dir)
    children = _launch(settings, files, plaintext=plaintext, notify=notify)
    web_scheme = "https" if os.environ.get("KAOHE_WEB_TLS_CERT") else "http"
    web_host = os.environ.get("KAOHE_WEB_BIND_HOST", "127.0.0.1")
    _say(f"网页控制台 {web_scheme}://{web_host}:{settings.port_base + 30}/")
    _say(
        f"网关 {settings.gateway_bind_host}:{settings.gateway_port}，任务服务 {settings.tasks_addr}，"
        f"计分服务 {settings.scoring_addr}；"
        f"监控指标端口 {settings.port_base + 10}–{settings.port_base + 12}；数据目录 {settings.data_dir}"
    )
    code = _watch(children, lambda: stopping, password, _sampler(settings, files) if sample else None)
    _stop(children)
    _say("已停止")
    return code


def _child_command(service: str, settings: Settings, *, plaintext: bool, notify: str | None) -> list[str]:
    """`kaohe serve-one SERVICE …`: the service's own main, on its port of the port base."""
    if service == "web":
        options = ServiceOptions("web", settings.port_base + 30, None)
    else:
        options = ServiceOptions(
            service,
            _ports(settings)[service],
            settings.metrics_port(service),
            str(settings.data_dir),
            str(settings.scheme_path),
            plaintext,
            # The reminders loop runs where the ledger is: in the tasks service.
            str(Path(notify).resolve()) if notify and service == "tasks" else None,
        )
    return [sys.executable, "-m", "services.cli.main", *options.argv()]


def _launch(
    settings: Settings, files: tls.TlsFiles | None, *, plaintext: bool, notify: str | None
) -> dict[str, subprocess.Popen[bytes]]:
    """The three services, each with its own certificate, and the console, which dies with this process."""
    env = {**os.environ, "KAOHE_TASKS_ADDR": settings.tasks_addr, "KAOHE_SCORING_ADDR": settings.scoring_addr}
    environments: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        environments[service] = dict(env)
        if files is not None:
            environments[service].update(
                {
                    tls.ENV_CA: str(files.ca),
                    tls.ENV_CERT: str(files.cert(service)),
                    tls.ENV_KEY: str(files.key(service)),
                }
            )
    environments["web"] = {
        **env,
        "KAOHE_GATEWAY": f"127.0.0.1:{settings.gateway_port}",
        # The data dir's secret signs the browsers' Logins (their address for the login throttle).
        "KAOHE_DATA_DIR": str(settings.data_dir),
        **({tls.ENV_CA: str(files.ca)} if files is not None else {}),
    }
    return {
        service: subprocess.Popen(
            _child_command(service, settings, plaintext=plaintext, notify=notify),
            env=environment,
            preexec_fn=workers.die_with_parent(),
        )
        for service, environment in environments.items()
    }


def _watch(
    children: dict[str, subprocess.Popen[bytes]],
    stopping: Callable[[], bool],
    password: FirstPassword,
    sampler: Callable[[Callable[[], None]], bool] | None,
) -> int:
    """Until a signal (0) or a child's death (1): relays the first password, imports the sample once."""
    while not stopping():
        dead = [(name, proc.returncode) for name, proc in children.items() if proc.poll() is not None]
        if dead:
            name, returncode = dead[0]
            _say(f"{name} 服务已停止（退出码 {returncode}）；正在停止其他服务")
            return 1
        password.relay()
        if sampler is not None and sampler(password.relay):
            sampler = None
        time.sleep(0.3)
    return 0


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each child still running, then SIGKILL to any that has not stopped in STOP_SECONDS."""
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


class FirstPassword:
    """The first office account's one-time password as the gateway leaves it (DIR/first-office-password,
    0600): shown once on the terminal that started serve and removed, never to its log; without a terminal
    (systemd, Docker) left in the file, which the log names."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FIRST_PASSWORD_FILE
        # A file left by an earlier start is not this start's news.
        self.before = self._stamp()
        self.told = False

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns

    def relay(self) -> None:
        """Tells the operator once, when the gateway has written the file since serve started."""
        if self.told or self._stamp() in (None, self.before):
            return
        self.told = True
        try:
            password = self.path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            _say(f"首个考核办账号 admin：一次性密码在 {self.path}（读取失败：{exc.strerror}）")
            return
        message = (
            f"kaohe serve: 首个考核办账号 admin，一次性密码 {password}"
            "（首次登录后必须修改：kaohe login --username admin，再 kaohe passwd）\n"
        )
        try:
            # /dev/tty even when stdout and stderr go to a file.
            with open("/dev/tty", "w", encoding="utf-8") as terminal:
                terminal.write(message)
        except OSError:
            _say(f"首个考核办账号 admin：一次性密码在 {self.path}（仅本人可读），首次登录后必须修改")
            return
        self.path.unlink(missing_ok=True)
        _say("首个考核办账号 admin：一次性密码只显示在终端上")


def _sampler(settings: Settings, files: tls.TlsFiles | None) -> Callable[[Callable[[], None]], bool]:
    """Once the three services answer (True from then on), first what they have to say (before), then the
    sample county on an empty ledger."""

    def attempt(before: Callable[[], None]) -> bool:
        ports = _ports(settings)
        if not all(
            _healthy(f"127.0.0.1:{ports[name]}", files, name) for name in ("gateway", "tasks", "scoring")
        ):
            return False
        before()
        try:
            _import_sample(settings, files)
        except Exception as exc:
            _say(f"示例县未导入：{exc}")
        return True

    return attempt


def _bearer(keys: Any, role: str, unit: str | None) -> tuple[tuple[str, str], ...]:
    token = issue_user_token(make_user_identity(role=role, unit=unit, subject="sample"), ring=keys.user)
    return (("authorization", f"Bearer {token}"),)


def _through_gateway(call: Callable[[], Any]) -> Any:
    """call's answer, asked through the gateway. Every service reports SERVING before the gateway's own
    channels to the tasks and scoring services are up, so UNAVAILABLE is asked again for up to a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _import_sample(settings: Settings, files: tls.TlsFiles | None) -> None:
    """On first start (an empty ledger), the sample county, so a newcomer sees a living ledger."""
    from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
    from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

    from services.cli.sample import sample_county, served_until
    from services.cli.sample_evidence import attach_sample_evidence
    from services.cli.sample_filings import file_sample_applications
    from services.common.scheme import load_scheme_file

    keys = load_token_keys(settings.data_dir)
    token = issue_user_token(make_user_identity(role="office", unit=None, subject="sample"), ring=keys.user)
    metadata = (("authorization", f"Bearer {token}"),)
    with _channel(f"127.0.0.1:{settings.gateway_port}", files, "gateway") as channel:
        tasks, scoring = (
            tasks_pb2_grpc.TasksServiceStub(channel),
            scoring_pb2_grpc.ScoringServiceStub(channel),
        )
        asked = tasks_pb2.ListUnitsRequest(page_size=1)
        if _through_gateway(lambda: tasks.ListUnits(asked, metadata=metadata, timeout=30).units):
            return
        # The import goes to both services: the gateway's channel to scoring must be up too.
        _through_gateway(
            lambda: scoring.GetScheme(scoring_pb2.GetSchemeRequest(), metadata=metadata, timeout=30)
        )
        scheme = load_scheme_file(settings.scheme_path)
        until = served_until(tz=scheme.tz, year=scheme.year)
        records = sample_county(scheme_text=scheme.text, year=scheme.year, until=until)
        data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
        # Pieces well under the gateway's message limit, each cut at a line's end.
        pieces, start = [], 0
        while start < len(data):
            end = data.find(b"\n", min(start + (1 << 20), len(data) - 1))
            end = len(data) if end < 0 else end + 1
            pieces.append(gateway_pb2.ImportLedgerRequest(data=data[start:end]))
            start = end
        reply = gateway_pb2_grpc.GatewayServiceStub(channel).ImportLedger(
            iter(pieces), metadata=metadata, timeout=600
        )
        filed = file_sample_applications(channel, lambda role, unit: _bearer(keys, role, unit))
        attached = attach_sample_evidence(channel, lambda role, unit: _bearer(keys, role, unit))
    kinds = "、".join(f"{LEDGER_LINE_TYPES.get(k, k)} {n}" for k, n in sorted(reply.created.items()))
    _say(f"已导入示例县：{sum(reply.created.values())} 条记录（{kinds}）")
    _say(f"已提交示例容错申请，待考核办裁决：{'、'.join(filed) or '无'}")
    _say(f"已为任务附上示例办结报告（PDF）：{'、'.join(attached) or '无'}")
