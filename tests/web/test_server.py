"""The console's server and sessions without a browser: TLS beyond loopback, cookies, expiry, export scope."""

from __future__ import annotations

import io
import ssl
import urllib.request
from pathlib import Path

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from openpyxl import load_workbook

from services.common.result_wire import result_to_json_dict
from services.common.settings import ConfigError
from services.common.tls import ensure_tls
from services.web.__main__ import create
from services.web.sessions import Sessions
from tests.conftest import Stack


def test_beyond_loopback_the_console_needs_a_certificate() -> None:
    with pytest.raises(ConfigError, match="KAOHE_WEB_TLS_CERT"):
        create(host="0.0.0.0", port=0, gateway_address="127.0.0.1:1")


def test_under_tls_the_cookies_are_secure(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=["127.0.0.1"])
    running = create(
        host="127.0.0.1",
        port=0,
        gateway_address="127.0.0.1:1",
        tls=(files.cert("gateway"), files.key("gateway")),
    )
    running.serve()
    try:
        context = ssl.create_default_context(cafile=str(files.ca))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{running.port}/login", context=context, timeout=30
        ) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
            page = r.read().decode()
        assert {"secure", "httponly", "samesite=strict"} <= {p.strip().lower() for p in cookie.split(";")}
        assert 'name="viewport"' in page and 'lang="zh-CN"' in page
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    finally:
        running.stop()


def test_sessions_end_when_idle_when_their_token_ends_and_on_logout() -> None:
    now = [1000.0]
    sessions = Sessions(idle_seconds=60, clock=lambda: now[0])
    first = sessions.start(token="t", role="office", unit="", username="a", name="", token_expiry=1100.0)
    seen = sessions.get(first.id)
    assert seen is not None and seen.id == first.id and seen.token == "t"
    now[0] += 50
    again = sessions.get(first.id)  # use pushes the idle expiry back
    assert again is not None and again.expires_at == now[0] + 60
    now[0] += 50
    assert sessions.get(first.id) is None  # the gateway token has ended
    second = sessions.start(token="t", role="office", unit="", username="a", name="", token_expiry=9999.0)
    now[0] += 61
    assert sessions.get(second.id) is None
    third = sessions.start(token="t", role="office", unit="", username="a", name="", token_expiry=9999.0)
    assert third.csrf_ok(third.csrf) and not third.csrf_ok("forged") and not third.csrf_ok("")
    sessions.end(third.id)
    assert sessions.get(third.id) is None


def test_a_department_exports_its_own_line_of_a_publicised_run_only(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    gateway, _, _ = stack.stubs()
    scoring = scoring_pb2_grpc.ScoringServiceStub(stack.channel())
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=120
    ).run
    department = stack.metadata("department", "fgj")
    with pytest.raises(grpc.RpcError):
        gateway.ExportRun(gateway_pb2.ExportRunRequest(run=run.id), metadata=department, timeout=60)
    scoring.PublishRun(scoring_pb2.PublishRunRequest(id=run.id), metadata=stack.metadata(), timeout=60)
    exported = gateway_pb2_grpc.GatewayServiceStub(stack.channel()).ExportRun(
        gateway_pb2.ExportRunRequest(run=run.id), metadata=department, timeout=60
    )
    cells = {
        str(c)
        for ws in load_workbook(io.BytesIO(exported.xlsx)).worksheets
        for row in ws.iter_rows(values_only=True)
        for c in row
    }
    document = result_to_json_dict(
        scoring.GetRun(scoring_pb2.GetRunRequest(id=run.id), metadata=stack.metadata(), timeout=60).run.result
    )
    others = {u["unit"] for u in document["units"]} - {"fgj"}
    assert "fgj" in cells and not others & cells
