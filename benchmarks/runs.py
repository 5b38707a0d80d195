"""The cheaper runs at scale: the generated year written straight into the tasks tables (no import), then
CreateRun with the three services in this one process (`inprocess`), or `kaohe assess run` against
`kaohe serve`'s three processes (`served`); against reading the same rows out of the database."""

from __future__ import annotations

import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.record import Figure, Record
from services.common.scheme import load_scheme_file

ROOT = Path(__file__).resolve().parents[1]

# The rows and columns a run reads (one per task and involved unit), as the facts query reads them.
FACT_COLUMNS = "priority, assigned_at, due_at, reported_at, cancelled_at, task_type, due_given, verified_at"
FACTS = (
    f"SELECT id, lead_unit, {FACT_COLUMNS} FROM tasks WHERE due_at IS NOT NULL "
    f"UNION ALL SELECT t.id, c.unit_id, {FACT_COLUMNS} FROM tasks t "
    "JOIN task_co_units c ON c.task_id = t.id WHERE due_at IS NOT NULL"
)


def read_facts(url: str) -> float:
    """Seconds to read the facts' rows and columns: a SELECT on SQLite, COPY (binary) out on PostgreSQL
    (each block received, not parsed: a lower bound of any reader)."""
    start = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute(FACTS).fetchall()
        conn.close()
        return time.perf_counter() - start
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    options = parsed.query.get("options", "")
    dsn = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with (
        psycopg.connect(dsn, options=str(options)) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY ({FACTS}) TO STDOUT (FORMAT BINARY)") as copy,
    ):
        for _ in copy:  # each block received, none kept (the bench's peak RSS stays the services')
            pass
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_run_at_scale(record: Record, *, kind: str, size: str = "prefecture") -> None:
    """The generated year of size written straight into the tasks tables, then CreateRun (totals only, as
    the CLI asks) over gRPC; the baseline is reading the same rows out of the database in the same run,
    and the peak RSS of this process (the three services and the client in one) before and after."""
    from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc

    from benchmarks.fill import fill_tasks_db
    from benchmarks.ledger import SCHEME, SHAPES
    from benchmarks.stack import running_stack
    from tests.conftest import secure_channel

    scheme = load_scheme_file(SCHEME)
    shape = SHAPES[size]
    with tempfile.TemporaryDirectory() as tmp, running_stack(kind, Path(tmp), scheme) as stack:
        fill_tasks_db(stack.tasks_url, shape, scheme)
        before = _peak_rss_mb()
        # A province's reply (30,000 units, no breakdowns) is ~11 MB: more than gRPC's default 4 MB.
        channel = secure_channel(
            stack.tls, stack.gateway_addr, options=[("grpc.max_receive_message_length", 1 << 30)]
        )
        stack.channels.append(channel)
        scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
        start = time.perf_counter()
        scoring.CreateRun(
            scoring_pb2.CreateRunRequest(year=2025, omit_breakdown=True),
            metadata=stack.metadata(),
            timeout=1800,
        )
        ran = time.perf_counter() - start
        after = _peak_rss_mb()
        baseline = read_facts(stack.tasks_url)
        how = "by SELECT" if kind == "sqlite" else "by COPY (binary)"
        where = f"{shape.units + 1:,} units, {shape.tasks:,} tasks written straight into the tables"
        record.add(
            Figure(
                f"run.{size}.inprocess.{kind}",
                ran,
                "s",
                baseline,
                f"IN-PROCESS, not the user's path: {where}, the three services in the bench process; "
                f"baseline the same rows and columns read {how}",
            )
        )
        record.add(
            Figure(
                f"run.{size}.inprocess.{kind}.peak_rss",
                after,
                "MB",
                before,
                "IN-PROCESS: peak RSS of the bench process (the three services in one) after the run; "
                "baseline before it",
            )
        )


def bench_run_served(record: Record, *, size: str, server_url: str) -> None:
    """The generated year of size written straight into the tables of `kaohe serve` (separate processes, on
    fresh PostgreSQL databases), then `kaohe assess run` as the CLI runs it (every breakdown stored); each
    process's peak RSS during the run, and COPY out of the rows it reads as the baseline."""
    from benchmarks.fill import fill_tasks_db
    from benchmarks.ledger import SCHEME, SHAPES
    from benchmarks.served import Served, fresh_databases

    shape = SHAPES[size]
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-") as tmp, fresh_databases(server_url) as urls:
        served = Served(Path(tmp), urls)
        try:
            fill_tasks_db(urls["tasks"], shape, load_scheme_file(SCHEME))
            served.reset_peaks()
            ran = served.cli("assess", "run", "--year", "2025")
            peaks = {"cli": ran.peak_kib, **served.peaks_kib()}
            baseline = read_facts(urls["tasks"])
        finally:
            served.close()
    where = f"{shape.units + 1:,} units, {shape.tasks:,} tasks written straight into the tables (no import)"
    record.add(
        Figure(
            f"run.{size}.served.seconds",
            ran.seconds,
            "s",
            baseline,
            f"`kaohe assess run` against `kaohe serve`'s processes, {where}; baseline COPY (binary) out of "
            "the rows it reads",
        )
    )
    total = sum(peaks.values())
    for name, kib in sorted(peaks.items()):
        record.add(
            Figure(
                f"run.{size}.served.peak_rss.{name}",
                kib / 1024,
                "MiB",
                total / 1024,
                "peak resident memory (VmHWM) during the run; baseline the sum over every process",
            )
        )
