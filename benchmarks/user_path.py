"""The user's path: a generated ledger by `kaohe import` into `kaohe serve`, then `kaohe assess run`.

Both commands are subprocesses against serve's separate processes on fresh PostgreSQL databases, timed
from here; the baselines are a bare COPY of the same lines in and of the run's rows out, in the same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.ledger import SHAPES, write_ledger
from benchmarks.record import Figure, Record
from benchmarks.runs import read_facts
from benchmarks.served import Served, cpu_seconds, fresh_databases, pg_dsn

MIB = 1024
# Issue 21's targets.
IMPORT_LINES_PER_SECOND = 50_000
IMPORT_SECONDS = {"prefecture": 40.0, "province": 300.0}
PROCESS_BUDGET_MIB = 1024  # every process, throughout an import
RUN_SECONDS = {"prefecture": 10.0, "province": 60.0}
RUN_VS_COPY = {"prefecture": 5.0}
RUN_BUDGET_MIB = {"province": 4096}  # all processes together


def bench_user_path(record: Record, *, size: str, server_url: str, phases: bool) -> None:
    """The ledger of size imported and run on the user's path; with phases, where the run's time goes."""
    shape = SHAPES[size]
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ledger = tmp / "ledger.jsonl"
        start = time.perf_counter()
        lines = write_ledger(ledger, shape)
        print(
            f"# {size}: {shape.units + 1:,} units, {shape.tasks:,} tasks, {lines:,} lines "
            f"({ledger.stat().st_size / 1e6:.0f} MB) generated in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        with fresh_databases(server_url) as urls:
            print(f"# {size}: PostgreSQL {server_settings(urls['tasks'])}", flush=True)
            served = Served(tmp, urls)
            try:
                served.reset_peaks()
                cpu_before = {**served.cpu_seconds(), **database_cpu(urls)}
                imported = served.cli("import", str(ledger))
                import_peaks = {"cli": imported.peak_kib, **served.peaks_kib()}
                import_cpu = spent_between(cpu_before, {**served.cpu_seconds(), **database_cpu(urls)})
                import_cpu["cli"] = imported.cpu_seconds
                busy = autovacuum_workers(urls["tasks"])
                served.reset_peaks()
                ran = served.cli("assess", "run", "--year", "2025")
                run_peaks = {"cli": ran.peak_kib, **served.peaks_kib()}
                copy_out = read_facts(urls["tasks"])
                if phases:
                    from benchmarks.phases import where_the_run_goes

                    where_the_run_goes(record, served, urls, size=size, first_run=ran.seconds)
                # The office imports its ledger again as it grows: every line found unchanged.
                again = served.cli("import", str(ledger))
            finally:
                served.close()
        copy_in = bare_copy(ledger, server_url)
    _import_figures(record, size, lines, imported.seconds, copy_in, import_peaks)
    _cpu_figures(record, size, imported.seconds, import_cpu)
    record.add(
        Figure(
            f"import.{size}.again.lines_per_s",
            lines / again.seconds,
            "lines/s",
            lines / imported.seconds,
            "the same ledger imported again after the run (every line unchanged); baseline the first import",
            target=IMPORT_LINES_PER_SECOND,
            higher_is_better=True,
        )
    )
    _run_figures(record, size, shape.tasks, ran.seconds, copy_out, run_peaks, busy)


def _import_figures(
    record: Record, size: str, lines: int, seconds: float, copy_in: float, peaks: dict[str, int]
) -> None:
    how = f"{lines:,} lines by `kaohe import` into `kaohe serve` on a fresh PostgreSQL database"
    record.add(
        Figure(
            f"import.{size}.lines_per_s",
            lines / seconds,
            "lines/s",
            lines / copy_in,
            f"{how}; baseline a bare COPY of the same lines into one table",
            target=IMPORT_LINES_PER_SECOND,
            higher_is_better=True,
        )
    )
    if size in IMPORT_SECONDS:
        record.add(
            Figure(
                f"import.{size}.seconds",
                seconds,
                "s",
                copy_in,
                f"{how}, wall time from outside; baseline the bare COPY",
                target=IMPORT_SECONDS[size],
            )
        )
    for name, kib in sorted(peaks.items()):
        record.add(
            Figure(
                f"import.{size}.peak_rss.{name}",
                kib / MIB,
                "MiB",
                sum(peaks.values()) / MIB,
                "peak resident memory (VmHWM) during the import; baseline the sum over every process",
                target=PROCESS_BUDGET_MIB,
            )
        )


def _cpu_figures(record: Record, size: str, seconds: float, spent: dict[str, float]) -> None:
    """Where the import's time went: each process's CPU seconds during it (PostgreSQL's backends by
    database), against the wall time; what is left of the wall is waiting (the disk, a busy machine)."""
    for name, cpu in sorted(spent.items()):
        if cpu >= 0.05:
            record.add(
                Figure(
                    f"import.{size}.cpu.{name}",
                    cpu,
                    "s",
                    seconds,
                    "CPU seconds (user + system) this process spent during the import; baseline the "
                    "import's wall time",
                )
            )


def spent_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two readings, by process; a database's backends (`postgres.tasks.<pid>`,
    one begun in between counted from nothing) summed by service."""
    spent: dict[str, float] = {}
    for key, value in after.items():
        name = key.rsplit(".", 1)[0] if key.startswith("postgres.") else key
        spent[name] = spent.get(name, 0.0) + value - before.get(key, 0.0)
    return spent


def database_cpu(urls: dict[str, str]) -> dict[str, float]:
    """CPU seconds so far of each PostgreSQL backend serving urls' databases (on this machine), keyed
    `postgres.<service>.<pid>`."""
    import psycopg
    from sqlalchemy.engine import make_url

    spent: dict[str, float] = {}
    for service, url in urls.items():
        name = make_url(url).database
        with psycopg.connect(pg_dsn(url)) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
                )
            ]
        spent |= {f"postgres.{service}.{pid}": cpu_seconds(pid) for pid in pids}
    return spent


def _run_figures(
    record: Record, size: str, tasks: int, seconds: float, copy_out: float, peaks: dict[str, int], busy: int
) -> None:
    record.add(
        Figure(
            f"run.{size}.seconds",
            seconds,
            "s",
            copy_out,
            f"`kaohe assess run --year 2025` right after the import, {tasks:,} tasks, wall time from outside "
            f"({busy} autovacuum worker(s) busy as it began); "
            "baseline COPY (binary) out of the rows it reads",
            target=RUN_SECONDS.get(size),
            ratio_target=RUN_VS_COPY.get(size),
        )
    )
    total = sum(peaks.values())
    for name, kib in sorted(peaks.items()):
        record.add(
            Figure(
                f"run.{size}.peak_rss.{name}",
                kib / MIB,
                "MiB",
                total / MIB,
                "peak resident memory (VmHWM) during the run; baseline the sum over every process",
            )
        )
    record.add(
        Figure(
            f"run.{size}.peak_rss.all",
            total / MIB,
            "MiB",
            max(peaks.values()) / MIB,
            "the sum of every process's peak during the run (an upper bound of their peak together); "
            "baseline the largest one",
            target=RUN_BUDGET_MIB.get(size),
        )
    )


def server_settings(url: str) -> str:
    """The server's settings that decide when statistics appear after a bulk import."""
    import psycopg

    names = ("server_version", "autovacuum", "autovacuum_naptime", "autovacuum_analyze_scale_factor")
    with psycopg.connect(pg_dsn(url)) as conn:
        values = [conn.execute(f"SHOW {name}").fetchone() for name in names]
    return ", ".join(
        f"{name}={value[0] if value else '?'}" for name, value in zip(names, values, strict=True)
    )


def autovacuum_workers(url: str) -> int:
    """Autovacuum workers busy on url's database (a bulk import wakes them)."""
    import psycopg

    with psycopg.connect(pg_dsn(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'autovacuum worker' AND datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def bare_copy(path: Path, server_url: str) -> float:
    """Seconds to COPY the file's lines (line number, text) into one table of a fresh database."""
    import psycopg

    with fresh_databases(server_url) as urls, psycopg.connect(pg_dsn(urls["tasks"])) as conn:
        start = time.perf_counter()
        conn.execute("CREATE TABLE bench_lines (line integer PRIMARY KEY, json text NOT NULL)")
        with conn.cursor().copy("COPY bench_lines (line, json) FROM STDIN") as copy, path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                copy.write_row((number, raw.rstrip(b"\n").decode()))
        conn.commit()
        return time.perf_counter() - start
