"""A bounded mixed load (writes and reads, every role, 8 clients), every acknowledged write counted back."""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLIENTS = 8
SECONDS = float(os.environ.get("KAOHE_LOAD_SECONDS", "60"))
ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """This process's resident memory (the three services run in it), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_load() -> list[tuple[str, str]]:
    """CLIENTS threads for SECONDS: p50/p99 per method, RSS before and after, writes stored exactly once."""
    import grpc
    from google.protobuf import struct_pb2
    from kaohe.gateway.v1 import gateway_pb2
    from kaohe.scoring.v1 import scoring_pb2
    from kaohe.tasks.v1 import tasks_pb2
    from sqlalchemy import func, select

    from services.common.scheme import load_scheme_file
    from services.scoring.storage.tables import records
    from services.tasks.storage.tables import audit
    from services.tasks.storage.tables import tasks as task_rows
    from tests.conftest import start_stack, stop_stack

    scheme = load_scheme_file(ROOT / "tests" / "data" / "scheme.toml")
    ledger = (ROOT / "tests" / "data" / "ledger.jsonl").read_bytes()
    units = ["fgj", "czj", "sfj", "jyj", "cgz", "mxz"]
    latencies: dict[str, list[float]] = defaultdict(list)
    codes: Counter[tuple[str, str]] = Counter()
    created_tasks: list[str] = []
    created_records: list[str] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(
            tasks_db=f"sqlite:///{tmp}/t.db", scoring_db=f"sqlite:///{tmp}/s.db", scheme=scheme, tmp=Path(tmp)
        )
        try:
            stack.import_ledger(ledger)
            before = rss_mib()
            gateway, tasks, scoring = stack.stubs()
            deadline = time.monotonic() + SECONDS

            def call(method: str, rpc: Callable[..., Any], request: Any, metadata: Any) -> Any:
                start = time.perf_counter()
                try:
                    reply = rpc(request, metadata=metadata, timeout=30)
                    code = "OK"
                except grpc.RpcError as exc:
                    reply, code = None, exc.code().name
                elapsed = time.perf_counter() - start
                with lock:
                    latencies[method].append(elapsed)
                    codes[(method, code)] += 1
                return reply

            def client(number: int) -> None:
                chooser = random.Random(number)
                role = ("office", "supervisor", "department", "viewer")[number % 4]
                unit = units[number % len(units)] if role == "department" else None
                metadata = stack.metadata(role, unit)
                sequence = 0
                while time.monotonic() < deadline:
                    sequence += 1
                    key = f"load-{number}-{sequence}"
                    pick = chooser.random()
                    if role in ("office", "supervisor") and pick < 0.4:
                        request = tasks_pb2.CreateTaskRequest(
                            id=key,
                            title="压力测试事项",
                            task_type="leader_directive",
                            lead_unit=chooser.choice(units),
                            assign_now=True,
                            request_id=key,
                        )
                        if call("CreateTask", tasks.CreateTask, request, metadata):
                            with lock:
                                created_tasks.append(key)
                    elif role == "office" and pick < 0.6:
                        fields = struct_pb2.Struct()
                        fields.update(
                            {
                                "id": key,
                                "unit": chooser.choice(units),
                                "date": "2025-06-01",
                                "category": "drafting",
                                "severity": "general",
                                "description": "压力测试",
                            }
                        )
                        record = scoring_pb2.CreateRecordRequest(
                            kind="error_report", fields=fields, request_id=key
                        )
                        if call(
                            "CreateRecord",
                            scoring.CreateRecord,
                            record,
                            metadata,
                        ):
                            with lock:
                                created_records.append(key)
                    elif pick < 0.75:
                        listing = tasks_pb2.ListTasksRequest(page_size=50, unit=unit or "")
                        call("ListTasks", tasks.ListTasks, listing, metadata)
                    elif role == "department":
                        board = gateway_pb2.GetDashboardRequest(unit=unit or "", year=2025)
                        call("GetDashboard", gateway.GetDashboard, board, metadata)
                    else:
                        overview = gateway_pb2.GetOverviewRequest(year=2025)
                        call(
                            "GetOverview",
                            gateway.GetOverview,
                            overview,
                            metadata,
                        )

            threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            after = rss_mib()
            with stack.parts["tasks"].db.read() as conn:
                stored_tasks = Counter(
                    row[0]
                    for row in conn.execute(select(task_rows.c.id).where(task_rows.c.id.like("load-%")))
                )
                audited = Counter(
                    row[0]
                    for row in conn.execute(
                        select(audit.c.target).where(
                            audit.c.method == "CreateTask", audit.c.outcome == "changed"
                        )
                    )
                )
            with stack.parts["scoring"].db.read() as conn:
                stored_records = Counter(
                    row[0]
                    for row in conn.execute(
                        select(records.c.rid, func.count())
                        .where(records.c.rid.like("load-%"))
                        .group_by(records.c.rid)
                    )
                    for _ in range(row[1])
                )
        finally:
            stop_stack(stack)
    failures = {k: v for k, v in codes.items() if k[1] not in ("OK", "UNAVAILABLE")}
    if failures:
        raise AssertionError(f"the load got answers other than OK: {failures}")
    lost = [t for t in created_tasks if stored_tasks[t] != 1 or audited[f"task={t}"] != 1]
    lost += [r for r in created_records if stored_records[r] != 1]
    extra = set(stored_tasks) - set(created_tasks)
    if lost or len(extra) > CLIENTS:
        raise AssertionError(
            f"acknowledged writes not stored exactly once: {lost[:10]}; unacknowledged: {extra}"
        )
    calls = sum(codes.values())
    lines = [
        (
            f"mixed load: {CLIENTS} clients (every role), {SECONDS:.0f} s, SQLite",
            f"{calls:,} calls ({calls / SECONDS:,.0f}/s); {len(created_tasks) + len(created_records):,} "
            "writes acknowledged, each stored exactly once",
        )
    ]
    for method in sorted(latencies):
        samples = latencies[method]
        p50, p99 = (_percentile(samples, q) * 1e3 for q in (0.5, 0.99))
        lines.append(
            (
                f"  {method} ({len(samples):,} calls)",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            )
        )
    lines.append(
        ("  RSS of the process serving the stack, before → after", f"{before:.0f} → {after:.0f} MiB")
    )
    return lines


def bench_processes(record: Any, *, calls: int) -> None:
    """The overview from 8 clients with the gateway as 1 and as 2 processes on its port, each against WhoAmI
    from the same clients (KAOHE_GATEWAY_PROCESSES; `kaohe serve` as people run it, TLS)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from benchmarks.record import Figure, percentile
    from benchmarks.stack import _load, served
    from services.common.scheme import load_scheme_file

    year = load_scheme_file(ROOT / "schemes" / "default.toml").year
    context = multiprocessing.get_context("spawn")
    before = os.environ.get("KAOHE_GATEWAY_PROCESSES")
    try:
        for processes in (1, 2):
            os.environ["KAOHE_GATEWAY_PROCESSES"] = str(processes)
            with tempfile.TemporaryDirectory() as tmp, served(Path(tmp)) as (address, ca, token):
                args = (address, ca, token)
                with ProcessPoolExecutor(CLIENTS, mp_context=context) as pool:
                    # Connections made and every process's view cache filled: not timed.
                    _load(pool, CLIENTS, 2, *args, "GetOverview", year)
                    view = _load(pool, CLIENTS, calls, *args, "GetOverview", year)
                    empty = _load(pool, CLIENTS, calls, *args, "WhoAmI", year)
            for q in (50, 99):
                record.add(
                    Figure(
                        f"overview.c{CLIENTS}.gateway{processes}.p{q}",
                        percentile(view, q) * 1000,
                        "ms",
                        percentile(empty, q) * 1000,
                        f"gateway as {processes} process(es), {CLIENTS} clients x {calls} calls; "
                        "baseline WhoAmI",
                    )
                )
    finally:
        if before is None:
            os.environ.pop("KAOHE_GATEWAY_PROCESSES", None)
        else:
            os.environ["KAOHE_GATEWAY_PROCESSES"] = before
