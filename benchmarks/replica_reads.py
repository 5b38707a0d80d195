"""Reads on a replica, measured: `python -m benchmarks.replica_reads [calls]`.

Starts a PostgreSQL primary and its streaming replica (as tests/integration/test_read_replica.py does), two
stacks over the same schemas — one with KAOHE_*_DB_READ_URL's replica, one reading the primary only — imports
the worked example, and times the same department's reads (list, summary, overview) through the gateway on
each, then an office's write followed by its own read (read-your-writes). Prints p50 / p99 in milliseconds and
where the reads went (kaohe_db_reads_total).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kaohe.gateway.v1 import gateway_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.scheme import load_scheme_file
from tests.conftest import Stack, example_path, start_stack, stop_stack
from tests.integration.test_read_replica import _start_clusters, _stop_clusters, reads, wait_for


def _timed(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return statistics.median(seconds) * 1000, seconds[int(len(seconds) * 0.99) - 1] * 1000


def _reads(stack: Stack, calls: int) -> dict[str, tuple[float, float]]:
    gateway, tasks, _ = stack.stubs()
    fgj = stack.metadata("department", "fgj")
    office = stack.metadata("office")

    def write_then_read() -> None:
        request = tasks_pb2.CreateTaskRequest(
            title=f"测 {uuid.uuid4().hex[:6]}", task_type="leader_directive", lead_unit="fgj", assign_now=True
        )
        tasks.CreateTask(request, metadata=office, timeout=30)
        tasks.ListTasks(tasks_pb2.ListTasksRequest(unit="fgj", page_size=50), metadata=office, timeout=30)

    listed = tasks_pb2.ListTasksRequest(page_size=200)
    summary = tasks_pb2.SummarizeTasksRequest(year=2025)
    view = gateway_pb2.GetOverviewRequest(year=2025)
    return {
        "ListTasks": _timed(lambda: tasks.ListTasks(listed, metadata=fgj, timeout=30), calls),
        "SummarizeTasks": _timed(lambda: tasks.SummarizeTasks(summary, metadata=fgj, timeout=30), calls),
        "GetOverview": _timed(lambda: gateway.GetOverview(view, metadata=fgj, timeout=60), calls),
        "CreateTask+ListTasks (office)": _timed(write_then_read, max(10, calls // 5)),
    }


def main(argv: list[str]) -> int:
    calls = int(argv[0]) if argv else 200
    clusters = _start_clusters()
    stacks: list[Stack] = []
    try:
        urls: dict[str, str] = {}
        replica: dict[str, str] = {}
        for name in ("tasks", "scoring"):
            schema = f"b_{name}_{uuid.uuid4().hex[:8]}"
            clusters.sql(clusters.primary_port, f'CREATE SCHEMA "{schema}"')
            urls[name] = clusters.url(clusters.primary_port, schema)
            replica[name] = clusters.url(clusters.replica_port, schema)
        scheme = load_scheme_file(example_path("scheme.toml"))
        tmp = Path(tempfile.mkdtemp(prefix="kaohe-bench-replica-"))
        for read_urls in (replica, {}):
            stacks.append(
                start_stack(
                    tasks_db=urls["tasks"],
                    scoring_db=urls["scoring"],
                    scheme=scheme,
                    tmp=tmp / str(len(stacks)),
                    read_urls=read_urls,
                )
            )
        stacks[0].import_ledger(example_path("ledger.jsonl").read_bytes())
        for name in ("tasks", "scoring"):
            router = stacks[0].parts[name].db.router
            wait_for(lambda router=router: router.usable() == "replica", what="the replica in use")
        with_replica, primary_only = _reads(stacks[0], calls), _reads(stacks[1], calls)
        print(f"{'call':32} {'replica p50/p99 ms':>20} {'primary only p50/p99 ms':>26}")
        for call, (p50, p99) in with_replica.items():
            q50, q99 = primary_only[call]
            print(f"{call:32} {p50:9.1f} / {p99:7.1f} {q50:14.1f} / {q99:7.1f}")
        for name in ("tasks", "scoring"):
            print(name, "reads by reason (replica stack):", reads(stacks[0], name))
    finally:
        for stack in stacks:
            stop_stack(stack)
        _stop_clusters(clusters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
