"""Mutual TLS over a real gRPC server: who gets in, and who the server sees calling."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common.tls import (
    TlsConfig,
    TlsFiles,
    channel_credentials,
    ensure_tls,
    peer_service,
    server_credentials,
    tls_config_from_env,
)

HOSTS = ["127.0.0.1", "::1"]
OK, UNAVAILABLE = grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE


class RecordingHealth(health.HealthServicer):  # type: ignore[misc]
    """The library's health servicer, noting the peer service of every check it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[str | None] = []

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.peers.append(peer_service(context))
        return super().Check(request, context)


class Served:
    def __init__(self, server: grpc.Server, port: int, servicer: RecordingHealth) -> None:
        self.server, self.port, self.servicer = server, port, servicer


def _serve(tls: TlsConfig, *, require_client_auth: bool) -> Served:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = RecordingHealth()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(tls, require_client_auth=require_client_auth)
    )
    server.start()
    return Served(server, port, servicer)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("data"), hosts=HOSTS)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Another deployment's CA and certificates: same names, different trust."""
    return ensure_tls(tmp_path_factory.mktemp("other"), hosts=HOSTS)


@pytest.fixture
def mutual(files: TlsFiles) -> Iterator[Served]:
    served = _serve(files.config("tasks"), require_client_auth=True)
    yield served
    served.server.stop(0)


@pytest.fixture
def one_way(files: TlsFiles) -> Iterator[Served]:
    served = _serve(files.config("gateway"), require_client_auth=False)
    yield served
    served.server.stop(0)


def check(
    target: str, credentials: grpc.ChannelCredentials | None, *, server_name: str | None = None
) -> grpc.StatusCode:
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    channel = (
        grpc.secure_channel(target, credentials, options=options)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return OK


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1"])
def test_the_gateway_certificate_gets_in_and_is_named(files: TlsFiles, mutual: Served, target: str) -> None:
    assert check(f"{target}:{mutual.port}", channel_credentials(files.config("gateway"))) == OK
    assert mutual.servicer.peers == ["gateway"]


def test_each_service_is_named_by_its_own_certificate(files: TlsFiles, mutual: Served) -> None:
    for service in ("scoring", "gateway", "tasks"):
        assert check(f"localhost:{mutual.port}", channel_credentials(files.config(service))) == OK
    assert mutual.servicer.peers == ["scoring", "gateway", "tasks"]


def test_a_client_without_a_certificate_is_refused(files: TlsFiles, mutual: Served) -> None:
    code = check(f"localhost:{mutual.port}", channel_credentials(files.config(None)))
    assert code == UNAVAILABLE
    assert mutual.servicer.peers == []


def test_a_plaintext_client_is_refused(mutual: Served) -> None:
    assert check(f"127.0.0.1:{mutual.port}", None) == UNAVAILABLE
    assert mutual.servicer.peers == []


def test_a_certificate_of_another_ca_is_refused(files: TlsFiles, foreign: TlsFiles, mutual: Served) -> None:
    """Another CA's gateway certificate, even by a client that trusts our CA."""
    impostor = TlsConfig(ca=files.ca, cert=foreign.cert("gateway"), key=foreign.key("gateway"))
    assert check(f"localhost:{mutual.port}", channel_credentials(impostor)) == UNAVAILABLE
    assert mutual.servicer.peers == []


def test_a_client_trusting_another_ca_does_not_talk_to_the_server(foreign: TlsFiles, mutual: Served) -> None:
    code = check(f"localhost:{mutual.port}", channel_credentials(foreign.config("gateway")))
    assert code == UNAVAILABLE
    assert mutual.servicer.peers == []


def test_a_name_the_certificate_does_not_carry_is_refused(files: TlsFiles, mutual: Served) -> None:
    credentials = channel_credentials(files.config("gateway"))
    """The tasks server answers to `tasks`, not to another service's name nor a stranger's."""
    assert check(f"127.0.0.1:{mutual.port}", credentials, server_name="tasks") == OK
    for name in ("scoring", "kaohe.example.org"):
        assert check(f"127.0.0.1:{mutual.port}", credentials, server_name=name) == UNAVAILABLE


def test_without_client_auth_people_get_in_and_no_service_is_named(files: TlsFiles, one_way: Served) -> None:
    """The gateway's door: the CA alone is enough, and a presented certificate names nobody."""
    assert check(f"localhost:{one_way.port}", channel_credentials(files.config(None))) == OK
    assert check(f"localhost:{one_way.port}", channel_credentials(files.config("tasks"))) == OK
    assert one_way.servicer.peers == [None, None]


def test_files_named_by_the_environment_work_end_to_end(files: TlsFiles) -> None:
    served_tls = tls_config_from_env(
        {
            "KAOHE_TLS_CA": str(files.ca),
            "KAOHE_TLS_CERT": str(files.cert("scoring")),
            "KAOHE_TLS_KEY": str(files.key("scoring")),
        }
    )
    client_tls = tls_config_from_env({"KAOHE_TLS_CA": str(files.ca)})
    assert served_tls is not None and client_tls is not None
    served = _serve(served_tls, require_client_auth=False)
    try:
        assert check(f"localhost:{served.port}", channel_credentials(client_tls)) == OK
    finally:
        served.server.stop(0)


def test_ensure_tls_again_keeps_a_running_stack_trusted(files: TlsFiles, mutual: Served) -> None:
    """A restart that calls ensure_tls again must not strand the services already running."""
    again = ensure_tls(Path(files.directory).parent, hosts=HOSTS)
    assert check(f"localhost:{mutual.port}", channel_credentials(again.config("gateway"))) == OK
