"""The web console's pages at county scale: p50/p99 with 8 concurrent users, against its login page."""

from __future__ import annotations

import http.cookiejar
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.record import Figure, Record, percentile
from benchmarks.stack import CLIENTS, ROOT, served

PASSWORD = "bench-password-0"
# (account, role, unit or "", the page it opens): the office's overview and a department's own desk.
PAGES = (("bench-office", "office", "", "/office"), ("bench-unit", "department", "cgz", "/unit"))


def _session(console: str, username: str) -> urllib.request.OpenerDirector:
    """A browser's cookie jar, logged in as username."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{console}/login", timeout=60).read().decode()
    form = {"username": username, "password": PASSWORD}
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    if csrf:
        form["csrf"] = csrf.group(1)
    opener.open(f"{console}/login", urllib.parse.urlencode(form).encode(), timeout=60).read()
    return opener


def _client(console: str, username: str, path: str, calls: int) -> list[float]:
    """One user: logs in, then opens path calls times; the seconds each page took, whole body read."""
    opener = _session(console, username)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        with opener.open(f"{console}{path}", timeout=60) as reply:
            reply.read()
        samples.append(time.perf_counter() - start)
    return samples


def _load(pool: ProcessPoolExecutor, console: str, username: str, path: str, calls: int) -> list[float]:
    """CLIENTS users at once, each signed in as an account of their own (as clerks are: one account signing
    in eight times at the same moment is what the login throttle slows, a burst of guesses looking so)."""
    futures = [pool.submit(_client, console, f"{username}-{n}", path, calls) for n in range(CLIENTS)]
    return [s for f in futures for s in f.result()]


def _add_account(tmp: Path, address: str, token: str, username: str, role: str, unit: str) -> None:
    command = [sys.executable, "-m", "services.cli.main", "accounts", "add", username, "--role", role]
    command += ["--unit", unit] if unit else []
    command += ["--gateway", address, "--token", token, "--data-dir", str(tmp)]
    subprocess.run(command, input=PASSWORD + "\n", text=True, check=True, cwd=ROOT, capture_output=True)


def bench_pages(record: Record, *, calls: int) -> None:
    """The office's overview page and a department's page, 8 users at once, against the login page."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, served(Path(tmp)) as (address, _ca, token):
        console = f"http://127.0.0.1:{int(address.rsplit(':', 1)[1]) + 30}"
        for username, role, unit, _path in PAGES:
            for n in range(CLIENTS):
                _add_account(Path(tmp), address, token, f"{username}-{n}", role, unit)
        with ProcessPoolExecutor(CLIENTS, mp_context=context) as pool:
            for username, _role, _unit, path in PAGES:
                _load(pool, console, username, path, 1)  # sessions made and the view warmed, not timed
                pages = _load(pool, console, username, path, calls)
                empty = _load(pool, console, username, "/login", calls)
                for q in (50, 99):
                    record.add(
                        Figure(
                            f"web{path.replace('/', '.')}.c{CLIENTS}.p{q}",
                            percentile(pages, q) * 1000,
                            "ms",
                            percentile(empty, q) * 1000,
                            f"sample county, {CLIENTS} users x {calls} pages; baseline the login page",
                        )
                    )
