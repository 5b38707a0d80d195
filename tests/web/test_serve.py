"""`kaohe serve` runs the console on N+30 and makes the first office account, its password one-time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.e2e.test_cli import KAOHE, start_served

PASSWORD = "the office's own password"


@pytest.mark.slow
def test_serve_starts_the_console_and_makes_the_first_office_account(tmp_path: Path) -> None:
    served = start_served(tmp_path)
    try:
        log = served.log.read_text()
        address = re.search(r"网页控制台 (http://127\.0\.0\.1:\d+/)", log)
        assert address, log
        # Without a terminal the one-time password goes to a 0600 file, never to the log.
        one_time = (served.data_dir / "first-office-password").read_text().strip()
        assert one_time not in log and "first-office-password" in log
        # It must be changed before anything else: here at the command line.
        login = [KAOHE, "login", "--username", "admin"]
        first = subprocess.run(login, env=served.env, input=one_time + "\n", capture_output=True, text=True)
        assert first.returncode == 0 and "一次性密码" in first.stderr, first.stderr
        changed = subprocess.run(
            [KAOHE, "passwd", "--token", first.stdout.strip()],
            env=served.env,
            input=f"{one_time}\n{PASSWORD}\n",
            capture_output=True,
            text=True,
        )
        assert changed.returncode == 0, changed.stderr
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
            {"csrf": csrf.group(1), "username": "admin", "password": PASSWORD}
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
        assert "首个考核办账号" not in again.log.read_text()
    finally:
        os.killpg(again.process.pid, signal.SIGTERM)
        again.process.wait(timeout=30)
