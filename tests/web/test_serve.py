"""`kaohe serve` runs the console on N+30 and prints the first office account's one-time password."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.e2e.test_cli import start_served


@pytest.mark.slow
def test_serve_starts_the_console_and_makes_the_first_office_account(tmp_path: Path) -> None:
    served = start_served(tmp_path)
    try:
        log = served.log.read_text()
        address = re.search(r"web console on (http://127\.0\.0\.1:\d+/)", log)
        password = re.search(r"first office account: admin, one-time password (\S+)", log)
        assert address and password, log
        gateway = int(served.env["KAOHE_GATEWAY"].rsplit(":", 1)[1])
        assert address.group(1) == f"http://127.0.0.1:{gateway + 30}/"

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        for _ in range(120):
            try:
                form = opener.open(address.group(1) + "login", timeout=10).read().decode()
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise AssertionError("the console did not answer:\n" + served.log.read_text())
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf
        body = urllib.parse.urlencode(
            {"csrf": csrf.group(1), "username": "admin", "password": password.group(1)}
        ).encode()
        with opener.open(address.group(1) + "login", data=body, timeout=60) as reply:
            assert reply.url.endswith("/office") and "全县态势" in reply.read().decode()

        # The password is printed once: a second start finds the account and prints none.
        assert served.kaohe("accounts", "list", "--json").stdout.count('"admin"') == 1
    finally:
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=30)
    again = start_served(tmp_path)
    try:
        assert "one-time password" not in again.log.read_text()
    finally:
        os.killpg(again.process.pid, signal.SIGTERM)
        again.process.wait(timeout=30)
