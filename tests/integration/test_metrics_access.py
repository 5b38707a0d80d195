"""/metrics: loopback by default; anywhere else only with the bearer token (scoring's shows every unit)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from services.common.runtime import start_metrics
from services.common.settings import ConfigError, load
from tests.conftest import Stack, example_path
from tests.e2e.ports import free_port

KAOHE = str(Path(sys.executable).parent / "kaohe")
TOKEN = "metrics-token-for-the-test"


def scrape(port: int, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_metrics_listen_on_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAOHE_METRICS_HOST", "KAOHE_METRICS_TOKEN", "KAOHE_BIND_HOST", "KAOHE_GATEWAY_BIND_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAOHE_GATEWAY_BIND_HOST", "0.0.0.0")
    settings = load()
    assert (settings.metrics_host, settings.metrics_token) == ("127.0.0.1", "")


def test_off_loopback_without_a_token_is_refused_at_start(stack: Stack) -> None:
    with pytest.raises(ConfigError, match="KAOHE_METRICS_TOKEN"):
        start_metrics(free_port(), "0.0.0.0", stack.parts["scoring"].registry)


def test_scorings_indicator_values_only_with_the_token_off_loopback(
    stack: Stack, example_ledger: bytes
) -> None:
    """Bound to every address: no token or a wrong one gets 401 and no unit's value; the token gets them."""
    stack.import_ledger(example_ledger)
    port = free_port()
    stop = start_metrics(port, "0.0.0.0", stack.parts["scoring"].registry, token=TOKEN)
    try:
        for token in (None, "wrong", TOKEN[:-1]):
            status, body = scrape(port, token)
            assert status == 401 and "kaohe_indicator_value" not in body, token
        status, body = scrape(port, TOKEN)
    finally:
        stop()
    assert status == 200
    assert 'kaohe_indicator_value{metric="' in body and 'unit="fgj"' in body


def test_on_loopback_without_a_token_anyone_on_the_host_reads_them(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    port = free_port()
    stop = start_metrics(port, "127.0.0.1", stack.parts["scoring"].registry)
    try:
        status, body = scrape(port)
    finally:
        stop()
    assert status == 200 and "kaohe_indicator_value" in body


def test_serve_one_refuses_metrics_off_loopback_without_a_token(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "KAOHE_SECRET": "s" * 32,
        "KAOHE_METRICS_HOST": "0.0.0.0",
    }
    result = subprocess.run(
        [
            KAOHE,
            "serve-one",
            "scoring",
            "--port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
            "--scheme",
            str(example_path("scheme.toml")),
            "--plaintext",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "KAOHE_METRICS_TOKEN" in result.stderr and "Traceback" not in result.stderr
