"""The console's server under idle, slow and malformed clients, and its headers behind TLS and proxies."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from services.common.tls import TlsFiles, ensure_tls
from services.web import server
from services.web.__main__ import Running, create
from services.web.app import ANONYMOUS_BODY, PAGE_THREADS
from services.web.oidc import OidcLogin

IDLE = 50


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("web-tls"), hosts=["127.0.0.1"])


@pytest.fixture
def plain() -> Iterator[Running]:
    running = create(host="127.0.0.1", port=0, gateway_address="127.0.0.1:1")
    running.serve()
    yield running
    running.stop()


@pytest.fixture
def secure(tls: TlsFiles) -> Iterator[Running]:
    running = create(
        host="127.0.0.1",
        port=0,
        gateway_address="127.0.0.1:1",
        tls=(tls.cert("gateway"), tls.key("gateway")),
    )
    running.serve()
    yield running
    running.stop()


def client_context(tls: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca))


def timed_get(url: str, *, context: ssl.SSLContext | None = None, **headers: str) -> tuple[float, Any]:
    """(seconds taken, the reply) for a GET that may wait at most 1 s for the console."""
    request = urllib.request.Request(url, headers=headers)
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=1, context=context) as reply:
        reply.read()
        return time.monotonic() - started, reply


def exchange(port: int, data: bytes, *, timeout: float = 5) -> bytes:
    """What the console answers to raw bytes, up to the end of its headers (or the connection's end)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_idle_tcp_and_tls_connections_do_not_stall_the_console(secure: Running, tls: TlsFiles) -> None:
    context = client_context(tls)
    url = f"https://127.0.0.1:{secure.port}/healthz"
    with ExitStack() as held:
        for _ in range(IDLE):
            held.enter_context(socket.create_connection(("127.0.0.1", secure.port), timeout=5))
        for _ in range(IDLE):
            raw = socket.create_connection(("127.0.0.1", secure.port), timeout=5)
            held.enter_context(context.wrap_socket(raw, server_hostname="127.0.0.1"))
        for _ in range(3):
            took, reply = timed_get(url, context=context)
            assert reply.status == 200 and took < 1.0


def test_idle_plain_connections_and_http09_lines_hold_no_page_thread(plain: Running) -> None:
    url = f"http://127.0.0.1:{plain.port}/healthz"
    with ExitStack() as held:
        for index in range(IDLE + PAGE_THREADS * 2):
            sock = held.enter_context(socket.create_connection(("127.0.0.1", plain.port), timeout=5))
            if index % 2:
                sock.sendall(b"GET /\r\n")  # HTTP/0.9, the line never ended by a blank one
        took, reply = timed_get(url)
        assert reply.status == 200 and took < 1.0
    assert status_of(exchange(plain.port, b"GET /\r\n\r\n")) in (303, 400)


def test_a_head_never_finished_is_closed_in_time(plain: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "HEAD_SECONDS", 0.5)
    for opening in (b"", b"GET /\r\n", b"GET /healthz HTTP/1.1\r\nHost: a\r\n"):
        with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as sock:
            sock.sendall(opening)
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the console, well before the 5 s bound
            assert time.monotonic() - started < 4


def test_slow_small_bodies_wait_in_the_event_loop_and_end_in_408(
    plain: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "BODY_SECONDS", 2.0)
    head = b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nusername="
    with ExitStack() as held:
        slow = [held.enter_context(socket.create_connection(("127.0.0.1", plain.port), timeout=5))]
        slow += [
            held.enter_context(socket.create_connection(("127.0.0.1", plain.port), timeout=5))
            for _ in range(PAGE_THREADS + 3)
        ]
        for sock in slow:
            sock.sendall(head)
        # More trickling bodies than page threads, and the console still answers at once.
        took, reply = timed_get(f"http://127.0.0.1:{plain.port}/healthz")
        assert reply.status == 200 and took < 1.0
        assert status_of(slow[0].recv(1024)) == 408


def test_malformed_requests_are_400_not_500(plain: Running) -> None:
    bad_length = b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"
    assert status_of(exchange(plain.port, bad_length)) == 400
    for path in (b"/%00", b"/static/%00.css", b"/tasks/a%00b"):
        assert status_of(exchange(plain.port, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")) == 400


def test_a_large_body_before_sign_in_is_refused_unread(plain: Running) -> None:
    # The 31 MiB are announced, never sent: the answer comes before them.
    head = b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 32505856\r\n\r\n"
    started = time.monotonic()
    assert status_of(exchange(plain.port, head)) == 413
    assert time.monotonic() - started < 1.0
    chunked = (
        b"POST /login HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{ANONYMOUS_BODY + 1:x}\r\n".encode()
        + b"a" * (ANONYMOUS_BODY + 1)
        + b"\r\n0\r\n\r\n"
    )
    assert status_of(exchange(plain.port, chunked)) == 411
    # Signed in, a megabyte passes the size check and reaches the page (here: refused for its CSRF).
    session = plain.console.sessions.start(
        token="t", role="office", unit="", username="a", name="", token_expiry=time.time() + 600
    )
    signed = (
        b"POST /logout HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Cookie: kaohe_session={session.id}\r\nContent-Length: {2**20}\r\n\r\n".encode()
        + b"a" * 2**20
    )
    assert status_of(exchange(plain.port, signed)) == 403


def test_https_sends_hsts_and_plain_http_does_not(secure: Running, plain: Running, tls: TlsFiles) -> None:
    _, reply = timed_get(f"https://127.0.0.1:{secure.port}/login", context=client_context(tls))
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
    _, reply = timed_get(f"http://127.0.0.1:{plain.port}/login")
    assert reply.headers["Strict-Transport-Security"] is None


def test_behind_a_trusted_tls_proxy_cookies_stay_secure(plain: Running) -> None:
    proxied = create(host="127.0.0.1", port=0, gateway_address="127.0.0.1:1", trusted_proxies="127.0.0.1")
    proxied.serve()
    try:
        _, reply = timed_get(f"http://127.0.0.1:{proxied.port}/login", **{"X-Forwarded-Proto": "https"})
        assert "Secure" in reply.headers["Set-Cookie"] and reply.headers["Strict-Transport-Security"]
    finally:
        proxied.stop()
    # Without the setting nobody's X-Forwarded-Proto is believed.
    _, reply = timed_get(f"http://127.0.0.1:{plain.port}/login", **{"X-Forwarded-Proto": "https"})
    assert "Secure" not in reply.headers["Set-Cookie"]


class FixedProvider(OidcLogin):
    """A provider whose discovery is known without asking it (the test reads only the redirect)."""

    def discovery(self) -> dict[str, Any]:
        return {
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/t",
        }


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.mark.parametrize("configured", ["", "https://kaohe.example.gov.cn"])
def test_the_oidc_callback_never_follows_the_host_header(configured: str) -> None:
    running = create(host="127.0.0.1", port=0, gateway_address="127.0.0.1:1", public_url=configured)
    running.console.oidc = FixedProvider("https://idp.example", "kaohe")
    running.serve()
    try:
        opener = urllib.request.build_opener(NoRedirects)
        request = urllib.request.Request(
            f"http://127.0.0.1:{running.port}/login/oidc", headers={"Host": "evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=5)
        location = answer.value.headers["Location"]
        asked = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        expected = configured or f"http://127.0.0.1:{running.port}"
        assert asked["redirect_uri"] == [expected + "/login/oidc/callback"]
    finally:
        running.stop()


def test_oidc_on_every_address_needs_the_public_address(monkeypatch: Any, tls: TlsFiles) -> None:
    from services.common.settings import ConfigError

    monkeypatch.setenv("KAOHE_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("KAOHE_OIDC_CLIENT_ID", "kaohe")
    with pytest.raises(ConfigError, match="KAOHE_WEB_PUBLIC_URL"):
        create(
            host="0.0.0.0",
            port=0,
            gateway_address="127.0.0.1:1",
            tls=(tls.cert("gateway"), tls.key("gateway")),
        )
