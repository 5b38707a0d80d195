"""Shared fixtures: real servers on :0 ports over SQLite files and PostgreSQL schemas."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2_grpc
from sqlalchemy import create_engine, text

from services.common.attachments import AttachmentStore, FolderStore
from services.common.auth import Identity, make_user_identity
from services.common.internal import request_bytes, stream_digest
from services.common.scheme import Scheme, load_scheme_file
from services.common.tls import TlsFiles, channel_credentials, ensure_tls
from services.common.tokens import TokenKeys, hash_request, issue_user_token, sign_internal

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "data"
PG_URL = os.environ.get("KAOHE_TEST_PG_URL", "")
SECRET = b"test-secret-0123456789"
KEYS = TokenKeys.from_secrets(SECRET)


# The folders by how long their files take, longest first: under -n, xdist deals whole files in this
# order (pytest_configure), so the quick unit files fill in at the end instead of a long file starting last.
FOLDER_ORDER = ("e2e", "web", "integration", "deploy", "oracle", "unit")


def pytest_configure(config: pytest.Config) -> None:
    # `-n 2` means --dist load: a module's tests then run on both workers, each starting the module's
    # fixtures (a console, a browser, a stack). Each file goes whole to one worker instead, in file order.
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        folder = item.path.relative_to(ROOT).parts[1] if item.path.is_relative_to(ROOT / "tests") else ""
        return FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else len(FOLDER_ORDER)

    items.sort(key=rank)


def example_path(name: str) -> Path:
    """A file of the worked example (scheme, ledger, expected result), kept with the tests."""
    return EXAMPLES / name


@pytest.fixture(scope="session")
def example_scheme() -> Scheme:
    return load_scheme_file(example_path("scheme.toml"))


@pytest.fixture(scope="session")
def example_ledger() -> bytes:
    return example_path("ledger.jsonl").read_bytes()


@pytest.fixture(scope="session")
def expected_result() -> dict[str, Any]:
    return dict(json.loads(example_path("expected.json").read_text(encoding="utf-8")))


class Databases:
    """Makes fresh, isolated databases of one kind: SQLite files, or PostgreSQL schemas."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.tmp = tmp
        self.schemas: list[str] = []

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '-' + uuid.uuid4().hex[:6] + '.db')}"
        schema = f"t_{name}_{uuid.uuid4().hex[:10]}"
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        separator = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        if not self.schemas:
            return
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _backends() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgres",
            id="postgres",
            marks=[pytest.mark.postgres]
            + ([] if PG_URL else [pytest.mark.skip(reason="KAOHE_TEST_PG_URL is not set")]),
        )
    )
    return params


@pytest.fixture(params=_backends())
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    dbs = Databases(request.param, tmp_path)
    yield dbs
    dbs.drop()


@pytest.fixture(scope="module", params=_backends())
def module_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """As databases, for a module's tests together (module_stack)."""
    dbs = Databases(request.param, tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A private CA and the three services' certificates, as `kaohe serve` makes them."""
    return ensure_tls(tmp_path_factory.mktemp("pki"), hosts=["127.0.0.1", "::1"])


def user_token(role: str = "office", unit: str | None = None, *, keys: TokenKeys = KEYS) -> str:
    """A person's JWT signed with the test deployment's secret."""
    return issue_user_token(make_user_identity(role=role, unit=unit), ring=keys.user)


def secure_channel(
    files: TlsFiles, address: str, *, as_service: str | None = None, **kw: Any
) -> grpc.Channel:
    """TLS to one of our servers: as a person (the CA only) or presenting a service's certificate."""
    target_name = kw.pop("target_name", None)
    options = list(kw.pop("options", []))
    if target_name:
        options.append(("grpc.ssl_target_name_override", target_name))
    return grpc.secure_channel(address, channel_credentials(files.config(as_service)), options=options)


def internal_metadata(
    identity: Identity, method: str, request: Any = None, *, keys: TokenKeys = KEYS, ttl_seconds: int = 30
) -> tuple[tuple[str, str], ...]:
    """The credential the gateway would attach to this call (method and, for a message, request bound;
    for a list of messages, a stream's, bound to the stream)."""
    raw = request_bytes(request)
    digest = hash_request(raw) if raw is not None else None
    streamed = stream_digest(request) if isinstance(request, list) else None
    token = sign_internal(
        identity,
        method=method,
        ring=keys.internal,
        request_digest=digest,
        ttl_seconds=ttl_seconds,
        stream_digest=streamed,
    )
    return (("x-kaohe-internal", token),)


@dataclass
class Stack:
    """The three services, started in this process on loopback ports, over TLS (mutual between them)."""

    keys: TokenKeys
    tls: TlsFiles
    scheme: Scheme
    gateway_addr: str
    tasks_addr: str
    scoring_addr: str
    audit_path: Path
    parts: dict[str, Any] = field(default_factory=dict)
    channels: list[grpc.Channel] = field(default_factory=list)

    def token(self, role: str = "office", unit: str | None = None) -> str:
        return user_token(role, unit, keys=self.keys)

    def metadata(self, role: str = "office", unit: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(role, unit)}"),)

    def channel(self, address: str | None = None, *, as_service: str = "gateway") -> grpc.Channel:
        """To the gateway as a person; to tasks or scoring presenting a service's certificate."""
        target = address or self.gateway_addr
        if target not in (self.tasks_addr, self.scoring_addr):
            channel = secure_channel(self.tls, target)
        else:
            name = "tasks" if target == self.tasks_addr else "scoring"
            channel = secure_channel(self.tls, target, as_service=as_service, target_name=name)
        self.channels.append(channel)
        return channel

    def stubs(self) -> tuple[Any, Any, Any]:
        channel = self.channel()
        return (
            gateway_pb2_grpc.GatewayServiceStub(channel),
            tasks_pb2_grpc.TasksServiceStub(channel),
            scoring_pb2_grpc.ScoringServiceStub(channel),
        )

    def import_ledger(self, data: bytes, role: str = "office") -> Any:
        gateway, _, _ = self.stubs()
        # Pieces of 1 MiB, as the command line sends them: the gateway takes 4 MiB a message.
        pieces = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)] or [b""]
        return gateway.ImportLedger(
            iter([gateway_pb2.ImportLedgerRequest(data=p) for p in pieces]),
            metadata=self.metadata(role),
            timeout=60,
        )

    def stop(self, name: str) -> None:
        self.parts[name].server.stop(0).wait()

    def restart_scoring(self, db_url: str) -> None:
        from services.scoring.__main__ import create as create_scoring

        port = int(self.scoring_addr.rsplit(":", 1)[1])
        scoring = create_scoring(
            address=f"127.0.0.1:{port}",
            db_url=db_url,
            scheme=self.scheme,
            keys=self.keys,
            tls=self.tls.config("scoring"),
            tasks_addr=self.tasks_addr,
        )
        scoring.server.start()
        self.parts["scoring"] = scoring


def start_stack(
    *,
    tasks_db: str,
    scoring_db: str,
    scheme: Scheme,
    tmp: Path,
    tls: TlsFiles | None = None,
    attachments: AttachmentStore | None = None,
    read_urls: dict[str, str] | None = None,
) -> Stack:
    """The three services; read_urls: the tasks' and scoring's read replicas, by service name."""
    from services.gateway.__main__ import create as create_gateway
    from services.scoring.__main__ import create as create_scoring
    from services.tasks.__main__ import create as create_tasks

    # A CA of its own when the caller brings none (the benchmarks), as `kaohe serve` would make.
    tls = tls or ensure_tls(tmp, hosts=["127.0.0.1", "::1"])
    keys = KEYS
    # One store for both services' evidence, as `kaohe serve` has (content-addressed: nothing collides).
    attachments = attachments or FolderStore(tmp / "attachments")
    tasks = create_tasks(
        address="127.0.0.1:0",
        db_url=tasks_db,
        scheme=scheme,
        keys=keys,
        tls=tls.config("tasks"),
        attachments=attachments,
        read_db_url=(read_urls or {}).get("tasks", ""),
    )
    tasks.server.start()
    tasks_addr = f"127.0.0.1:{tasks.port}"
    scoring = create_scoring(
        address="127.0.0.1:0",
        db_url=scoring_db,
        scheme=scheme,
        keys=keys,
        tls=tls.config("scoring"),
        tasks_addr=tasks_addr,
        attachments=attachments,
        read_db_url=(read_urls or {}).get("scoring", ""),
    )
    scoring.server.start()
    scoring_addr = f"127.0.0.1:{scoring.port}"
    audit = tmp / "audit.log"
    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=keys,
        tls=tls.config("gateway"),
        tasks_addr=tasks_addr,
        scoring_addr=scoring_addr,
        audit_path=audit,
    )
    gateway.server.start()
    stack = Stack(keys, tls, scheme, f"127.0.0.1:{gateway.port}", tasks_addr, scoring_addr, audit)
    stack.parts = {"tasks": tasks, "scoring": scoring, "gateway": gateway}
    return stack


def stop_stack(stack: Stack) -> None:
    for channel in stack.channels:
        channel.close()
    for name in ("gateway", "scoring", "tasks"):
        part = stack.parts[name]
        part.server.stop(0).wait()
        if hasattr(part, "db"):
            part.db.dispose()
        if hasattr(part, "tasks"):
            part.tasks.close()
        if hasattr(part, "backends"):
            part.backends.tasks.close()
            part.backends.scoring.close()


def _started(databases: Databases, scheme: Scheme, tmp: Path, tls: TlsFiles) -> Stack:
    running = start_stack(
        tasks_db=databases.url("tasks"),
        scoring_db=databases.url("scoring"),
        scheme=scheme,
        tmp=tmp,
        tls=tls,
    )
    running.parts["urls"] = {"scoring": running.parts["scoring"].db.url}
    return running


@pytest.fixture
def stack(
    databases: Databases, example_scheme: Scheme, tmp_path: Path, tls_files: TlsFiles
) -> Iterator[Stack]:
    """The three services over fresh databases of the parametrised kind, running the example scheme."""
    running = _started(databases, example_scheme, tmp_path, tls_files)
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def module_stack(
    module_databases: Databases,
    example_scheme: Scheme,
    tmp_path_factory: pytest.TempPathFactory,
    tls_files: TlsFiles,
) -> Iterator[Stack]:
    """As stack, started once for a module's tests that leave it as they found it: refusals, each
    checking that nothing changed, and tests that touch only data of their own."""
    running = _started(module_databases, example_scheme, tmp_path_factory.mktemp("stack"), tls_files)
    yield running
    stop_stack(running)


def run_state(run: Any) -> str:
    """A kaohe.scoring.v1.Run's state as its code (draft publicised final)."""
    from kaohe.common.v1 import common_pb2

    from services.common.protoenum import enum_code

    return enum_code(common_pb2.RunState.DESCRIPTOR, run.state)


def run_time(run: Any, field: str) -> str:
    """One of a Run's instants as RFC 3339 in the example scheme's zone (Asia/Shanghai); "" when unset."""
    from zoneinfo import ZoneInfo

    from services.common.wiretime import rfc3339_of

    return rfc3339_of(run, field, ZoneInfo("Asia/Shanghai"))
