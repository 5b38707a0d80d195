"""`kaohe serve` (three processes, watched) and `kaohe serve-one` (one service, in this process)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import logs, tls, workers
from services.common.auth import load_secret, make_user_identity
from services.common.db import Database
from services.common.errors import DomainError
from services.common.files import private_dir
from services.common.rpc import serve_until_signalled
from services.common.runtime import load_scheme_or_fail, start_metrics, watch_database
from services.common.settings import ConfigError, Settings, load
from services.common.tokens import issue_user_token, load_token_keys, oidc_from_env
from services.gateway.accounts.storage import gateway_db_url

SERVICES = ("tasks", "scoring", "gateway")
log = logging.getLogger("kaohe.serve")


def _say(message: str) -> None:
    print(f"kaohe serve: {message}", file=sys.stderr, flush=True)


def _service_tls(service: str, settings: Settings, *, plaintext: bool) -> tls.TlsConfig | None:
    """KAOHE_TLS_CA/CERT/KEY, else the files `kaohe serve` keeps in DIR/tls/; None only with --plaintext."""
    if plaintext:
        return None
    config = tls.tls_config_from_env()
    if config is not None:
        return config
    files = tls.TlsFiles(settings.data_dir / "tls")
    if files.ca.exists() and files.cert(service).exists():
        return tls.load_tls_config(ca=files.ca, cert=files.cert(service), key=files.key(service))
    raise ConfigError(
        f"no TLS certificate: set {tls.ENV_CA}, {tls.ENV_CERT} and {tls.ENV_KEY} "
        f"(or run `kaohe serve` once to create {files.directory}), or --plaintext on a loopback address"
    )


def notify_config(path: str | None) -> Any:
    """The reminders file of --notify (else KAOHE_NOTIFY_FILE), read and checked; None when neither is set."""
    from services.notify.config import NotifyConfigInvalid, load_notify_config

    path = path or os.environ.get("KAOHE_NOTIFY_FILE") or None
    if path is None:
        return None
    try:
        return load_notify_config(Path(path))
    except NotifyConfigInvalid as exc:
        raise ConfigError(f"notify file {path}: {exc.key} {exc.rule}") from None


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
    """Runs one service until SIGTERM/SIGINT; bad configuration → one line on stderr, exit 2."""
    logs.configure(service)
    if service == "web":
        from services.web.__main__ import main as serve_web

        return serve_web(port=port)
    if metrics_port is None:
        print(f"kaohe serve-one {service}: --metrics-port is required", file=sys.stderr, flush=True)
        return 2
    worker = workers.is_worker()
    if worker:
        workers.follow_supervisor()
    elif service == "gateway":
        try:
            count = workers.process_count("gateway")
        except ConfigError as exc:
            print(f"kaohe serve-one gateway: {exc}", file=sys.stderr, flush=True)
            return 2
        if count > 1:
            return _supervise_gateway(
                count,
                port=port,
                metrics_port=metrics_port,
                data_dir=data_dir,
                scheme=scheme,
                plaintext=plaintext,
            )
    on_stop: list[Callable[[], None]] = []
    reminders = None
    database: Database | None = None
    health_names: list[str] = []
    try:
        settings = load(data_dir=data_dir, scheme=scheme)
        keys = load_token_keys(settings.data_dir)
        host = settings.gateway_bind_host if service == "gateway" else settings.bind_host
        address = f"{host}:{port}"
        if plaintext and not tls.is_loopback(address):
            raise ConfigError(f"--plaintext is for loopback development only, not {address}")
        service_tls = _service_tls(service, settings, plaintext=plaintext)
        if service == "gateway":
            from services.gateway.__main__ import create as create_gateway

            gateway = create_gateway(
                address=address,
                keys=keys,
                tls=service_tls,
                tasks_addr=settings.tasks_addr,
                scoring_addr=settings.scoring_addr,
                audit_path=settings.data_dir / "audit.log",
                max_request_bytes=settings.max_request_bytes,
                oidc=oidc_from_env(),
                accounts_db_url=gateway_db_url(settings.data_dir),
                # Set only by the fault-injection tests: imports stop at that phase ("staged", "decided").
                import_pause=os.environ.get("KAOHE_TEST_IMPORT_PAUSE", ""),
                reuse_port=worker,
            )
            server, health, registry = gateway.server, gateway.health, gateway.registry
        elif service == "tasks":
            from services.common.attachments import store_from_env
            from services.notify.config import NotifyConfigInvalid
            from services.tasks.__main__ import SERVICE_NAME as TASKS_NAME
            from services.tasks.__main__ import create as create_tasks

            try:
                tasks = create_tasks(
                    address=address,
                    db_url=settings.tasks_db_url,
                    scheme=load_scheme_or_fail(settings.scheme_path),
                    keys=keys,
                    tls=service_tls,
                    notify=notify_config(notify),
                    # Set only by the reminders e2e test: the loop reads "now" from that file, so a repeat
                    # of one minute is tested without waiting a minute.
                    notify_clock=os.environ.get("KAOHE_TEST_NOTIFY_CLOCK", ""),
                    attachments=store_from_env(settings.data_dir),
                )
            except NotifyConfigInvalid as exc:
                raise ConfigError(f"notify file: {exc.key} {exc.rule}") from None
            server, health, registry = tasks.server, tasks.health, tasks.registry
            tasks.app.importer.decisions.start()
            on_stop.append(tasks.app.importer.decisions.stop)
            reminders = tasks.reminders
            database, health_names = tasks.db, ["", TASKS_NAME]
        else:
            from services.common.attachments import store_from_env
            from services.scoring.__main__ import SERVICE_NAME as SCORING_NAME
            from services.scoring.__main__ import create as create_scoring

            scoring = create_scoring(
                address=address,
                db_url=settings.scoring_db_url,
                scheme=load_scheme_or_fail(settings.scheme_path),
                keys=keys,
                tls=service_tls,
                tasks_addr=settings.tasks_addr,
                recovery_after=settings.import_recovery_after,
                attachments=store_from_env(settings.data_dir),
            )
            server, health, registry = scoring.server, scoring.health, scoring.registry
            database, health_names = scoring.db, ["", SCORING_NAME]
            # Before the server starts: an import the tasks service already decided is settled now, so
            # no read ever sees one half of it (only undecided ones wait for their gateway).
            scoring.recovery.settle_decided()
            scoring.recovery.start()
            on_stop.append(scoring.recovery.stop)
        if not worker:  # a worker's values go to its supervisor's folder, served there for them all
            stop_metrics = start_metrics(
                metrics_port, settings.metrics_host, registry, token=settings.metrics_token
            )
            on_stop.append(stop_metrics)
    except (ConfigError, DomainError, OSError) as exc:
        print(f"kaohe serve-one {service}: {str(exc).splitlines()[0]}", file=sys.stderr, flush=True)
        return 2
    log.info("serving", extra={"address": address, "metrics_port": metrics_port})
    if reminders is not None:
        reminders.start()
        on_stop.insert(0, reminders.stop)
    # NOT_SERVING while the database is out of reach, so that a balancer and `kaohe status` can tell.
    stop_watching = watch_database(database, health, health_names) if database is not None else None
    if stop_watching is not None:
        on_stop.insert(0, stop_watching)

    def stop_all() -> None:
        for stop in on_stop:
            stop()

    serve_until_signalled(server, health, on_stop=stop_all)
    log.info("stopped")
    return 0


def _supervise_gateway(
    count: int, *, port: int, metrics_port: int, data_dir: str | None, scheme: str | None, plaintext: bool
) -> int:
    """count gateway workers on one port (KAOHE_GATEWAY_PROCESSES), their /metrics served here."""
    try:
        settings = load(data_dir=data_dir, scheme=scheme)
        if not workers.port_free(settings.gateway_bind_host, port):
            raise ConfigError(f"port {port} (gateway gRPC) is taken")
    except (ConfigError, OSError) as exc:
        print(f"kaohe serve-one gateway: {str(exc).splitlines()[0]}", file=sys.stderr, flush=True)
        return 2
    command = [
        *[sys.executable, "-m", "services.cli.main", "serve-one", "gateway"],
        *["--port", str(port), "--metrics-port", str(metrics_port)],
        *(["--data-dir", data_dir] if data_dir else []),
        *(["--scheme", scheme] if scheme else []),
        *(["--plaintext"] if plaintext else []),
    ]

    def metrics(folder: str) -> Callable[[], None]:
        registry = workers.multiprocess_registry(folder)
        return start_metrics(metrics_port, settings.metrics_host, registry, token=settings.metrics_token)

    log.info("serving", extra={"address": f"{settings.gateway_bind_host}:{port}", "processes": count})
    address = (settings.gateway_bind_host, port)
    code = workers.supervise("gateway", count, command, address=address, metrics=metrics)
    log.info("stopped")
    return code


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind (gRPC and /metrics both set it): a port that only TIME-WAIT sockets of a
        # killed process still hold is free, one somebody listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _preflight(settings: Settings, notify: str | None) -> None:
    load_scheme_or_fail(settings.scheme_path)
    notify_config(notify)
    private_dir(settings.data_dir)
    load_secret(settings.data_dir, create=True)
    for service in SERVICES:
        port = {
            "gateway": settings.gateway_port,
            "tasks": settings.tasks_port,
            "scoring": settings.scoring_port,
        }[service]
        host = settings.gateway_bind_host if service == "gateway" else settings.bind_host
        for what, where, number in (
            ("gRPC", host, port),
            ("/metrics", settings.metrics_host, settings.metrics_port(service)),
        ):
            if not _port_free(where, number):
                raise ConfigError(f"port {number} ({service} {what}) is taken; choose another --port-base")
    web_host = os.environ.get("KAOHE_WEB_BIND_HOST", "127.0.0.1")
    if not _port_free(web_host, settings.port_base + 30):
        raise ConfigError(
            f"port {settings.port_base + 30} (web console) is taken; choose another --port-base"
        )
    for url in (settings.tasks_db_url, settings.scoring_db_url, gateway_db_url(settings.data_dir)):
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


def serve(
    *,
    data_dir: str | None,
    port_base: int | None,
    scheme: str | None,
    sample: bool,
    plaintext: bool = False,
    notify: str | None = None,
) -> int:
    """Starts the three services as processes and watches them; stops them all on a signal or a death.

    Unless plaintext, DIR/tls/ holds a private CA and each service's certificate (made at first start);
    each child gets its own files, and this user's command line is told which CA the gateway's port has.
    """
    try:
        settings = load(data_dir=data_dir, port_base=port_base, scheme=scheme)
        if plaintext:
            for host in {settings.bind_host, settings.gateway_bind_host}:
                if not tls.is_loopback(host):
                    _say(f"--plaintext is for loopback development only, not {host}")
                    return 2
        _preflight(settings, notify)
        files = None if plaintext else tls.ensure_tls(settings.data_dir, hosts=_certificate_hosts(settings))
    except (ConfigError, DomainError, OSError) as exc:
        _say(str(exc))
        return 1
    env = {**os.environ, "KAOHE_TASKS_ADDR": settings.tasks_addr, "KAOHE_SCORING_ADDR": settings.scoring_addr}
    if files is not None:
        try:
            tls.record_trust(f"127.0.0.1:{settings.gateway_port}", files.ca)
        except OSError as exc:
            _say(f"the CA was not recorded for the command line ({exc}); set {tls.ENV_CA}={files.ca}")
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for service in SERVICES:
        port = {
            "gateway": settings.gateway_port,
            "tasks": settings.tasks_port,
            "scoring": settings.scoring_port,
        }[service]
        child_env = dict(env)
        if files is not None:
            child_env.update(
                {
                    tls.ENV_CA: str(files.ca),
                    tls.ENV_CERT: str(files.cert(service)),
                    tls.ENV_KEY: str(files.key(service)),
                }
            )
        children[service] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli.main",
                "serve-one",
                service,
                "--port",
                str(port),
                "--metrics-port",
                str(settings.metrics_port(service)),
                "--data-dir",
                str(settings.data_dir),
                "--scheme",
                str(settings.scheme_path),
                *(["--plaintext"] if plaintext else []),
                # The reminders loop runs where the ledger is: in the tasks service.
                *(["--notify", str(Path(notify).resolve())] if notify and service == "tasks" else []),
            ],
            env=child_env,
            preexec_fn=workers.die_with_parent(),
        )
    children["web"] = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "serve-one",
            "web",
            "--port",
            str(settings.port_base + 30),
        ],
        env={
            **env,
            "KAOHE_GATEWAY": f"127.0.0.1:{settings.gateway_port}",
            # The data dir's secret signs the browsers' Logins (their address for the login throttle).
            "KAOHE_DATA_DIR": str(settings.data_dir),
            **({tls.ENV_CA: str(files.ca)} if files is not None else {}),
        },
        preexec_fn=workers.die_with_parent(),
    )
    web_scheme = "https" if os.environ.get("KAOHE_WEB_TLS_CERT") else "http"
    web_host = os.environ.get("KAOHE_WEB_BIND_HOST", "127.0.0.1")
    _say(f"web console on {web_scheme}://{web_host}:{settings.port_base + 30}/")
    _first_office(settings)
    _say(
        f"gateway {settings.gateway_bind_host}:{settings.gateway_port}, tasks {settings.tasks_addr}, "
        f"scoring {settings.scoring_addr}; metrics on {settings.port_base + 10}-{settings.port_base + 12}; "
        f"data in {settings.data_dir}"
    )
    sampled = not sample
    code = 0
    while not stopping:
        dead = [(name, proc.returncode) for name, proc in children.items() if proc.poll() is not None]
        if dead:
            name, returncode = dead[0]
            _say(f"the {name} service stopped (exit {returncode}); stopping the others")
            code = 1
            break
        if not sampled and all(
            _healthy(f"127.0.0.1:{p}", files, name)
            for name, p in (
                ("gateway", settings.gateway_port),
                ("tasks", settings.tasks_port),
                ("scoring", settings.scoring_port),
            )
        ):
            sampled = True
            try:
                _import_sample(settings, files)
            except Exception as exc:
                _say(f"the sample county was not imported: {exc}")
        time.sleep(0.3)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    _say("stopped")
    return code


def _first_office(settings: Settings) -> None:
    """On first start, the `admin` office account, its one-time password printed once."""
    from services.gateway.accounts.storage import open_database
    from services.gateway.accounts.use_cases import ensure_first_office

    db = open_database(gateway_db_url(settings.data_dir))
    try:
        password = ensure_first_office(db)
    finally:
        db.dispose()
    if password:
        _tell_first_password(settings.data_dir, password)


FIRST_PASSWORD_FILE = "first-office-password"


def _tell_first_password(data_dir: Path, password: str) -> None:
    """The one-time password to the terminal that started serve, never to its log: /dev/tty even when
    stdout and stderr go to a file; without a terminal (systemd, Docker) into DIR/first-office-password
    (0600), and the log names the file only."""
    message = (
        f"kaohe serve: 首个考核办账号 admin，一次性密码 {password}"
        "（首次登录后必须修改：kaohe login --username admin，再 kaohe passwd）\n"
    )
    try:
        with open("/dev/tty", "w", encoding="utf-8") as terminal:
            terminal.write(message)
        _say("first office account: admin; its one-time password was shown on the terminal only")
        return
    except OSError:
        pass
    path = data_dir / FIRST_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    _say(f"first office account: admin; its one-time password is in {path} (0600), change it at first login")


def _bearer(keys: Any, role: str, unit: str | None) -> tuple[tuple[str, str], ...]:
    token = issue_user_token(make_user_identity(role=role, unit=unit, subject="sample"), ring=keys.user)
    return (("authorization", f"Bearer {token}"),)


def _import_sample(settings: Settings, files: tls.TlsFiles | None) -> None:
    """On first start (an empty ledger), the sample county, so a newcomer sees a living ledger."""
    from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

    from services.cli.sample import sample_county, served_until
    from services.cli.sample_evidence import attach_sample_evidence
    from services.cli.sample_filings import file_sample_applications
    from services.common.scheme import load_scheme_file

    keys = load_token_keys(settings.data_dir)
    token = issue_user_token(make_user_identity(role="office", unit=None, subject="sample"), ring=keys.user)
    metadata = (("authorization", f"Bearer {token}"),)
    with _channel(f"127.0.0.1:{settings.gateway_port}", files, "gateway") as channel:
        units = tasks_pb2_grpc.TasksServiceStub(channel).ListUnits(
            tasks_pb2.ListUnitsRequest(page_size=1), metadata=metadata, timeout=30
        )
        if units.units:
            return
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
    _say(f"imported the sample county: {sum(reply.created.values())} records ({dict(reply.created)})")
    _say(f"filed the sample's 容错 applications for the office to decide: {', '.join(filed) or 'none'}")
    _say(f"attached the sample's 办结报告 (PDF) to tasks: {', '.join(attached) or 'none'}")
