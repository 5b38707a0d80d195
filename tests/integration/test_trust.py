"""The internal hop proves what it carries; limits hold before authentication; plaintext stays on loopback."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
import pytest
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import INTERNAL_METADATA, make_user_identity
from services.common.rpc import create_server
from services.common.settings import ConfigError
from services.common.tls import TlsFiles, server_credentials
from tests.conftest import KEYS, SECRET, Stack, internal_metadata, secure_channel, user_token

VIEWER = make_user_identity(role="viewer", unit=None)
TASKS = "/kaohe.tasks.v1.TasksService/"
TASKS_INTERNAL = "/kaohe.tasks.v1.TasksInternalService/"
SCORING = "/kaohe.scoring.v1.ScoringService/"


class CapturingTasks(tasks_pb2_grpc.TasksServiceServicer):  # type: ignore[misc]
    """A fake tasks service with the real one's certificate: keeps the credential the gateway sends."""

    def __init__(self) -> None:
        self.captured: list[str] = []

    def ListTasks(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.captured += [v for k, v in context.invocation_metadata() if k == INTERNAL_METADATA]
        return tasks_pb2.ListTasksResponse()


def _capture(stack: Stack, tls_files: TlsFiles) -> str:
    """What a viewer's ListTasks puts on the wire to tasks, captured by a backend that is not tasks."""
    from services.gateway.__main__ import create as create_gateway

    fake = CapturingTasks()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    tasks_pb2_grpc.add_TasksServiceServicer_to_server(fake, server)
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(tls_files.config("tasks"), require_client_auth=True)
    )
    server.start()
    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=KEYS,
        tls=tls_files.config("gateway"),
        tasks_addr=f"127.0.0.1:{port}",
        scoring_addr=stack.scoring_addr,
        audit_path=None,
    )
    gateway.server.start()
    try:
        with secure_channel(tls_files, f"127.0.0.1:{gateway.port}") as channel:
            tasks_pb2_grpc.TasksServiceStub(channel).ListTasks(
                tasks_pb2.ListTasksRequest(), metadata=stack.metadata("viewer"), timeout=10
            )
    finally:
        gateway.server.stop(0).wait()
        gateway.backends.tasks.close()
        gateway.backends.scoring.close()
        server.stop(0).wait()
    assert len(fake.captured) == 1
    return fake.captured[0]


def _writes(stack: Stack) -> dict[str, Any]:
    """The writes the issue replayed, each a call on the real service taking the metadata to send."""
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    internal = tasks_pb2_grpc.TasksInternalServiceStub(stack.channel(stack.tasks_addr))
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr))
    lines = tasks_pb2.ImportLedgerRequest(
        lines=[common_pb2.LedgerLine(line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}')]
    )
    return {
        TASKS + "CreateTask": lambda md: (
            tasks.CreateTask(
                tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj"),
                metadata=md,
                timeout=10,
            ).task
        ),
        TASKS_INTERNAL + "ImportLedger": lambda md: internal.ImportLedger(
            iter([lines]), metadata=md, timeout=10
        ),
        SCORING + "CreateRun": lambda md: (
            scoring.CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=md, timeout=10).run
        ),
        SCORING + "VoidRecord": lambda md: (
            scoring.VoidRecord(
                scoring_pb2.VoidRecordRequest(id="R1", kind=scoring_pb2.RECORD_KIND_ERROR_REPORT),
                metadata=md,
                timeout=10,
            ).record
        ),
        SCORING + "PublishRun": lambda md: (
            scoring.PublishRun(scoring_pb2.PublishRunRequest(id="run"), metadata=md, timeout=10).run
        ),
    }


def _code(call: Any, metadata: Any) -> grpc.StatusCode:
    try:
        call(metadata)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_a_captured_credential_replayed_on_writes_is_refused_and_logged(
    stack: Stack, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's attack, even by a holder of the gateway's own certificate."""
    captured = _capture(stack, tls_files)
    with caplog.at_level(logging.INFO, logger="kaohe.rpc"):
        for method, call in _writes(stack).items():
            assert _code(call, ((INTERNAL_METADATA, captured),)) == grpc.StatusCode.UNAUTHENTICATED, method
    refused = [r for r in caplog.records if r.getMessage() == "refused"]
    assert {getattr(r, "method", "") for r in refused} >= set(_writes(stack))


def test_a_viewer_identity_cannot_write_whoever_relays_it(stack: Stack) -> None:
    """A credential made for the very write (as a compromised gateway could): the policy table still holds."""
    for method, call in _writes(stack).items():
        refused = _code(call, internal_metadata(VIEWER, method))
        # A unary write's credential lacks its request's hash here; a stream's is refused by the table.
        assert refused in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), method
    lines = tasks_pb2.ImportLedgerRequest(
        lines=[common_pb2.LedgerLine(line=1, json='{"type":"unit","id":"x","name":"x","category":"d"}')]
    )
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel(stack.tasks_addr))
    internal = tasks_pb2_grpc.TasksInternalServiceStub(stack.channel(stack.tasks_addr))
    with pytest.raises(grpc.RpcError) as denied:
        internal.ImportLedger(
            iter([lines]),
            metadata=internal_metadata(VIEWER, TASKS_INTERNAL + "ImportLedger", [lines]),
            timeout=10,
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    request = tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj")
    with pytest.raises(grpc.RpcError) as denied:
        tasks.CreateTask(
            request, metadata=internal_metadata(VIEWER, TASKS + "CreateTask", request), timeout=10
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_services_take_only_their_callers_certificates(stack: Stack) -> None:
    """tasks takes the gateway and scoring; scoring takes the gateway only; a person's client neither."""
    request = scoring_pb2.GetSchemeRequest()
    md = internal_metadata(make_user_identity(role="office", unit=None), SCORING + "GetScheme", request)
    as_tasks = scoring_pb2_grpc.ScoringServiceStub(stack.channel(stack.scoring_addr, as_service="tasks"))
    with pytest.raises(grpc.RpcError) as refused:
        as_tasks.GetScheme(request, metadata=md, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    no_cert = secure_channel(stack.tls, stack.scoring_addr, target_name="scoring")
    stack.channels.append(no_cert)
    with pytest.raises(grpc.RpcError) as refused:
        scoring_pb2_grpc.ScoringServiceStub(no_cert).GetScheme(request, metadata=md, timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_five_mib_without_a_token_is_refused_as_too_large(stack: Stack) -> None:
    """A unary message is refused by size as it arrives; a stream is refused by its missing token first."""
    gateway = gateway_pb2_grpc.GatewayServiceStub(stack.channel())
    huge = gateway_pb2.ImportLedgerRequest(data=b"x" * (5 << 20))
    with pytest.raises(grpc.RpcError) as refused:
        gateway.ImportLedger(iter([huge]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        gateway.ImportLedger(iter([huge]), metadata=stack.metadata(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    tasks = tasks_pb2_grpc.TasksServiceStub(stack.channel())
    with pytest.raises(grpc.RpcError) as refused:
        tasks.CreateTask(tasks_pb2.CreateTaskRequest(title="x" * (5 << 20)), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_plaintext_listens_on_loopback_only() -> None:
    server, port, _ = create_server(
        "127.0.0.1:0", register=lambda s: None, service_names=[], tls=None, require_client_auth=False
    )
    assert port > 0
    server.stop(0)
    for address in ("0.0.0.0:0", "192.0.2.1:0", "[::]:0", "kaohe.example:0"):
        with pytest.raises(ConfigError, match="回环地址"):
            create_server(address, register=lambda s: None, service_names=[], tls=None)


def _gateway(stack: Stack, *, keys: Any = KEYS, oidc: Any = None) -> Any:
    from services.gateway.__main__ import create as create_gateway

    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=keys,
        tls=stack.tls.config("gateway"),
        tasks_addr=stack.tasks_addr,
        scoring_addr=stack.scoring_addr,
        audit_path=None,
        oidc=oidc,
    )
    gateway.server.start()
    return gateway


def _whoami(stack: Stack, port: int, token: str) -> Any:
    with secure_channel(stack.tls, f"127.0.0.1:{port}") as channel:
        return gateway_pb2_grpc.GatewayServiceStub(channel).WhoAmI(
            gateway_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=10
        )


def test_a_rotated_secret_keeps_the_old_tokens_until_it_is_retired(stack: Stack) -> None:
    from services.common.tokens import TokenKeys

    new_secret = b"the-new-secret-0123456789"
    rotated = TokenKeys.from_secrets(new_secret, retired=[SECRET])
    gateway = _gateway(stack, keys=rotated)
    try:
        assert (
            _whoami(stack, gateway.port, user_token("office")).role == accounts_pb2.ROLE_OFFICE
        )  # signed before
        assert (
            _whoami(stack, gateway.port, user_token("viewer", keys=rotated)).role == accounts_pb2.ROLE_VIEWER
        )
    finally:
        gateway.server.stop(0).wait()
    retired = _gateway(stack, keys=TokenKeys.from_secrets(new_secret))
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _whoami(stack, retired.port, user_token("office"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        retired.server.stop(0).wait()


def test_the_gateway_takes_the_configured_identity_providers_tokens(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.common.tokens import oidc_from_env
    from tests.unit.test_tokens import Provider

    provider = Provider()
    monkeypatch.setenv("KAOHE_OIDC_ISSUER", provider.ISSUER)
    monkeypatch.setenv("KAOHE_OIDC_JWKS_URL", provider.url)
    monkeypatch.setenv("KAOHE_OIDC_AUDIENCE", "kaohe")
    monkeypatch.setenv("KAOHE_OIDC_ROLE_CLAIM", "realm_access.roles")
    monkeypatch.setenv("KAOHE_OIDC_ROLE_MAP", "kaohe-dept=department,staff=viewer")
    gateway = _gateway(stack, oidc=oidc_from_env())
    try:
        theirs = provider.token(realm_access={"roles": ["kaohe-dept"]}, kaohe_unit="fgj")
        me = _whoami(stack, gateway.port, theirs)
        assert (me.role, me.unit, me.subject) == (accounts_pb2.ROLE_DEPARTMENT, "fgj", "u-1001")
        assert _whoami(stack, gateway.port, user_token("office")).role == accounts_pb2.ROLE_OFFICE
        forged = provider.token(
            key=provider.ec, algorithm="ES256", kid="rsa-1", realm_access={"roles": ["staff"]}
        )
        with pytest.raises(grpc.RpcError) as refused:
            _whoami(stack, gateway.port, forged)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        gateway.server.stop(0).wait()
        provider.close()


def test_a_plaintext_stack_on_loopback_still_works(databases: Any, example_scheme: Any) -> None:
    """--plaintext for development: every part on 127.0.0.1, no certificates, the policy still enforced."""
    from services.gateway.__main__ import create as create_gateway
    from services.scoring.__main__ import create as create_scoring
    from services.tasks.__main__ import create as create_tasks

    tasks = create_tasks(
        address="127.0.0.1:0", db_url=databases.url("tasks"), scheme=example_scheme, keys=KEYS, tls=None
    )
    scoring = create_scoring(
        address="127.0.0.1:0",
        db_url=databases.url("scoring"),
        scheme=example_scheme,
        keys=KEYS,
        tls=None,
        tasks_addr=f"127.0.0.1:{tasks.port}",
    )
    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=KEYS,
        tls=None,
        tasks_addr=f"127.0.0.1:{tasks.port}",
        scoring_addr=f"127.0.0.1:{scoring.port}",
        audit_path=None,
    )
    parts = (tasks, scoring, gateway)
    for part in parts:
        part.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = tasks_pb2_grpc.TasksServiceStub(channel)
            office = (("authorization", f"Bearer {user_token('office')}"),)
            assert list(stub.ListTasks(tasks_pb2.ListTasksRequest(), metadata=office, timeout=10).tasks) == []
            viewer = (("authorization", f"Bearer {user_token('viewer')}"),)
            with pytest.raises(grpc.RpcError) as denied:
                stub.CreateTask(
                    tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj"),
                    metadata=viewer,
                    timeout=10,
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with grpc.insecure_channel(f"127.0.0.1:{tasks.port}") as channel:
            request = tasks_pb2.CreateTaskRequest(title="x", task_type="leader_directive", lead_unit="fgj")
            with pytest.raises(grpc.RpcError) as denied:
                tasks_pb2_grpc.TasksServiceStub(channel).CreateTask(
                    request, metadata=internal_metadata(VIEWER, TASKS + "CreateTask", request), timeout=10
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        for part in parts:
            part.server.stop(0).wait()
        tasks.db.dispose()
        scoring.db.dispose()
        scoring.tasks.close()
        gateway.backends.tasks.close()
        gateway.backends.scoring.close()


def _kaohe(*args: str, env: dict[str, str]) -> Any:
    import subprocess
    import sys
    from pathlib import Path

    kaohe = str(Path(sys.executable).parent / "kaohe")
    return subprocess.run([kaohe, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--plaintext", "--port-base", "41000"],
        ["serve-one", "tasks", "--plaintext", "--port", "41001", "--metrics-port", "41011"],
        ["status", "--plaintext", "--gateway", "192.0.2.1:50050"],
    ],
    ids=["serve", "serve-one", "cli"],
)
def test_plaintext_is_refused_off_loopback_in_one_line(command: list[str], tmp_path: Any) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
    env.update(
        {"KAOHE_BIND_HOST": "0.0.0.0", "KAOHE_SECRET": "x" * 32, "KAOHE_DATA_DIR": str(tmp_path / "data")}
    )
    done = _kaohe(*command, env=env)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ("loopback" in lines[0] or "回环" in lines[0]), done.stderr
    assert not (tmp_path / "data" / "tls").exists()


def test_oversized_metadata_is_refused_before_any_handler(stack: Stack) -> None:
    gateway = gateway_pb2_grpc.GatewayServiceStub(stack.channel())
    with pytest.raises(grpc.RpcError) as refused:
        gateway.WhoAmI(
            gateway_pb2.WhoAmIRequest(),
            metadata=(("authorization", "Bearer " + "x" * (64 << 10)),),
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "unauthenticated" not in str(refused.value.details()).lower()
