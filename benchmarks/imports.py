"""A generated ledger of N lines imported with `kaohe import` into `kaohe serve` on PostgreSQL.

Measured: lines/s against a bare COPY of the same lines into one table, and the peak resident memory
(VmHWM) of each process — the command line, the gateway, tasks and scoring.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.record import Figure, Record
from services.common.scheme import Scheme, load_scheme_file

ROOT = Path(__file__).resolve().parents[1]
# Lines of a county's year (the default), of a prefecture's (behind --large).
# A province's ledger (about 10M tasks with their events: ~30M lines, ~4 GB) only with --province: at
# today's ~14,700 lines/s it takes about 35 minutes.
SIZES = {"county": 200_000, "prefecture": 2_000_000, "province": 30_000_000}


def ledger_lines(scheme: Scheme, lines: int) -> Iterator[str]:
    """A ledger of about `lines` lines: units, tasks with an accept and a report, and error reports.

    Per 500 lines one unit; of the rest, a tenth error reports, the others tasks (each 3 lines).
    """
    units = max(40, lines // 500)
    task_type = sorted(scheme.task_types)[0]
    severity = sorted(scheme.error_reports.deductions)[0]
    start = datetime(scheme.year, 1, 5, 9, 0, tzinfo=scheme.tz)
    for u in range(units):
        category = "township" if u % 3 == 0 else "department"
        yield json.dumps(
            {"type": "unit", "id": f"u{u}", "name": f"单位{u}", "category": category}, ensure_ascii=False
        )
    written, task, report = units, 0, 0
    while written < lines:
        if task % 9 == 8:
            report += 1
            day = date(scheme.year, 1, 1) + timedelta(days=report % 360)
            yield json.dumps(
                {
                    "type": "error_report",
                    "id": f"E{report}",
                    "unit": f"u{report % units}",
                    "date": day.isoformat(),
                    "category": "drafting",
                    "severity": severity,
                    "description": "报送材料数据口径不一致",
                },
                ensure_ascii=False,
            )
            written += 1
        assigned = start + timedelta(minutes=37 * task % (300 * 24 * 60))
        lead = task % units
        record: dict[str, Any] = {
            "type": "task",
            "id": f"T{task}",
            "title": f"落实县长批示：重点项目{task}",
            "task_type": task_type,
            "lead_unit": f"u{lead}",
            "assigned_at": assigned.isoformat(),
        }
        if task % 7 == 0:
            record["co_units"] = [f"u{(lead + 1) % units}"]
        yield json.dumps(record, ensure_ascii=False)
        for kind, hours in (("accept", 1), ("report", 30)):
            at = (assigned + timedelta(hours=hours)).isoformat()
            yield json.dumps({"type": "task_event", "task": f"T{task}", "kind": kind, "at": at})
        written += 3
        task += 1


def write_ledger(path: Path, scheme: Scheme, lines: int) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for line in ledger_lines(scheme, lines):
            out.write(line + "\n")
            count += 1
    return count


def _pg_dsn(url: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    options = str(parsed.query.get("options", ""))
    return parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False), options


def bare_copy(path: Path) -> float:
    """Seconds to COPY the file's lines (line number, text) into one scratch table on PostgreSQL."""
    import psycopg

    from tests.conftest import PG_URL

    dsn, _ = _pg_dsn(PG_URL)
    start = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMPORARY TABLE bench_lines (line integer PRIMARY KEY, json text NOT NULL)")
        with conn.cursor().copy("COPY bench_lines (line, json) FROM STDIN") as copy, path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                copy.write_row((number, raw.rstrip(b"\n").decode()))
        conn.commit()
    return time.perf_counter() - start


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(p) for p in found]


def _peak_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1])
    return 0


def _service_of(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if b"serve-one" in args:
        return args[args.index(b"serve-one") + 1].decode()
    return ""


def bench_import(record: Record, *, size: str) -> None:
    """`kaohe import` of a generated ledger into `kaohe serve` on PostgreSQL (three service processes)."""
    from tests.conftest import PG_URL, Databases

    if not PG_URL:
        print("# import.* skipped: KAOHE_TEST_PG_URL is not set", flush=True)
        return
    scheme = load_scheme_file(ROOT / "schemes" / "default.toml")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ledger = tmp / "ledger.jsonl"
        lines = write_ledger(ledger, scheme, SIZES[size])
        databases = Databases("postgres", tmp)
        env = {
            **os.environ,
            "KAOHE_TASKS_DB_URL": databases.url("tasks"),
            "KAOHE_SCORING_DB_URL": databases.url("scoring"),
        }
        base = _port_base()
        command = [sys.executable, "-m", "services.cli.main"]
        data = tmp / "data"
        serve = subprocess.Popen(
            [*command, "serve", "--data-dir", str(data), "--port-base", str(base), "--plaintext"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            options = ["--gateway", f"127.0.0.1:{base}", "--plaintext", "--data-dir", str(data)]
            _wait_up(serve, [*command, "units", "list", *options])
            start = time.perf_counter()
            done = subprocess.run(
                [*command, "import", str(ledger), *options], cwd=ROOT, env=env, capture_output=True, text=True
            )
            seconds = time.perf_counter() - start
            cli_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if done.returncode != 0:
                raise RuntimeError(f"kaohe import failed: {done.stdout}{done.stderr}")
            peaks = {_service_of(p): _peak_kib(p) for p in _children(serve.pid)}
        finally:
            with suppress(ProcessLookupError):
                os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()
            databases.drop()
        copy = bare_copy(ledger)
        megabytes = ledger.stat().st_size / 1e6
        record.add(
            Figure(
                f"import.{size}.postgres",
                lines / seconds,
                "lines/s",
                lines / copy,
                f"{lines:,} lines ({megabytes:.0f} MB) by kaohe import over gRPC, {seconds:.1f} s; "
                "baseline COPY of the same lines into one table",
            )
        )
        budget = 1024.0
        for name, kib in [("cli", cli_kib), *sorted(peaks.items())]:
            if name in ("cli", "gateway", "tasks", "scoring"):
                record.add(
                    Figure(
                        f"import.{size}.rss.{name}",
                        kib / 1024,
                        "MiB",
                        budget,
                        "peak resident memory (VmHWM) during the import; baseline the 1 GiB budget",
                    )
                )


def _wait_up(serve: subprocess.Popen[bytes], probe: list[str]) -> None:
    deadline = time.monotonic() + 120
    while True:
        if serve.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"kaohe serve did not come up (exit {serve.returncode})")
        if subprocess.run(probe, cwd=ROOT, capture_output=True).returncode == 0:
            return
        time.sleep(0.5)


def _port_base() -> int:
    """A port base N with N .. N+40 free on loopback, drawn at random: other benches probe from the bottom."""
    import random
    import socket

    for _ in range(200):
        base = random.randrange(55000, 64000, 50)
        try:
            for offset in (0, 1, 2, 10, 11, 12, 20, 30):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for kaohe serve")
