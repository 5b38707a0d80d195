"""A page's other reads kept under its view's tag: what changed after a page was kept shows on the next."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable

from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.web.conftest import PASSWORDS, Console


def signed_in(console: Console, username: str) -> urllib.request.OpenerDirector:
    """A browser's cookie jar, signed in as username."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(console.url + "/login", timeout=60).read().decode()
    form = {"username": username, "password": PASSWORDS[username]}
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if found:
        form["csrf"] = found.group(1)
    opener.open(console.url + "/login", urllib.parse.urlencode(form).encode(), timeout=60).read()
    return opener


def page(opener: urllib.request.OpenerDirector, console: Console, path: str) -> str:
    with opener.open(console.url + path, timeout=60) as reply:
        return str(reply.read().decode())


def until(shown: Callable[[], bool], what: str) -> None:
    """Waits for a write made through another door to reach the console's gateway (pushed, not polled)."""
    deadline = time.monotonic() + 30
    while not shown():
        assert time.monotonic() < deadline, what


def overview_tag(console: Console) -> str:
    stub = gateway_pb2_grpc.GatewayServiceStub(console.stack.channel(console.gateway))
    reply = stub.GetOverview(
        gateway_pb2.GetOverviewRequest(), metadata=console.stack.metadata("office"), timeout=60
    )
    return str(reply.etag)


def ledger(*lines: dict[str, object]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def test_a_report_and_a_person_added_after_the_pages_were_kept_show_on_them(console: Console) -> None:
    office, fgj, czj = (signed_in(console, name) for name in ("office1", "fgj1", "czj1"))
    before = page(office, console, "/office")
    assert 'data-awaiting="K1"' not in before
    assert "周九" not in page(fgj, console, "/unit")
    assert "周九" not in page(czj, console, "/unit")
    tag = overview_tag(console)
    assert tag and overview_tag(console) == tag  # nothing changed: the same tag, the kept answers stand

    console.stack.import_ledger(
        ledger(
            {"type": "person", "id": "kp-fgj", "name": "周九", "unit": "fgj", "post": "科员"},
            {
                "type": "task",
                "id": "K1",
                "title": "新近反馈的事项",
                "task_type": "leader_directive",
                "lead_unit": "fgj",
                "assigned_at": "2025-11-03T09:00:00+08:00",
                "responsible": "kp-fgj",
            },
            {"type": "task_event", "task": "K1", "kind": "report", "at": "2025-11-04T09:00:00+08:00"},
        )
    )
    until(lambda: overview_tag(console) != tag, "the overview's tag moves with the data")
    until(lambda: 'data-awaiting="K1"' in page(office, console, "/office"), "the new report awaits 核查")
    until(lambda: "周九" in page(fgj, console, "/unit"), "the unit's new person is on its desk")
    # Kept per role and unit: the other department's desk, asked under the same tag, does not show it.
    assert "周九" not in page(czj, console, "/unit")
