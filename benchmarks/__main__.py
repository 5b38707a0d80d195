"""`make bench`: the performance record — every figure with its baseline and, where issue 21 sets one, its
target and `ok` / `short by N×`; printed and kept in var/bench.json.

With KAOHE_TEST_PG_URL set, `ledger` measures the user's path: a generated county's ledger (a prefecture's
with --large, a province's with --province) by `kaohe import` into `kaohe serve`, then `kaohe assess run`,
on fresh PostgreSQL databases; for the prefecture and the province, where the run's time goes.
`inprocess` and `served` are the cheaper runs (tables filled directly; the services in one process, or
`kaohe serve`'s three), labelled so.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.kernel import ROOT, bench_kernel
from benchmarks.load import bench_load, bench_processes
from benchmarks.record import Record
from benchmarks.runs import bench_run_at_scale, bench_run_served
from benchmarks.stack import bench_import_and_run, bench_overview
from benchmarks.user_path import bench_user_path
from benchmarks.web import bench_pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--large", action="store_true", default=os.environ.get("KAOHE_BENCH_LARGE") == "1")
    parser.add_argument(
        "--province",
        action="store_true",
        help="also a province's ledger (30,000 units, 10M tasks, ~20M lines) imported and run on the user's "
        "path (the import took about 35 minutes before issue 21), and its in-process run",
    )
    parser.add_argument("--calls", type=int, default=60, help="overview calls per client (1 client)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: kernel,overview,web,import,ledger,inprocess,served,load,processes",
    )
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    kinds = ["sqlite"] + (["postgres"] if os.environ.get("KAOHE_TEST_PG_URL") else [])
    record = Record()
    print(
        "BENCH <name> <value> <unit> [target] baseline=<value> ratio=<value> [ok | short by N×]  "
        f"(this machine: {os.cpu_count()} cores, load average {_load()} at the start)",
        flush=True,
    )
    if not only or "kernel" in only:
        bench_kernel(record, large=args.large)
    if not only or "overview" in only:
        bench_overview(record, calls=args.calls)
    if not only or "web" in only:
        bench_pages(record, calls=max(4, args.calls // 2))
    if not only or "import" in only:
        for kind in kinds:
            bench_import_and_run(record, kind=kind)
    sizes = ["county"] + (["prefecture"] if args.large else []) + (["province"] if args.province else [])
    pg_url = os.environ.get("KAOHE_TEST_PG_URL", "")
    if not only or "ledger" in only:
        if not pg_url:
            print("# ledger skipped: the user's path is measured on PostgreSQL (set KAOHE_TEST_PG_URL)")
        for size in sizes if pg_url else []:
            bench_user_path(record, size=size, server_url=pg_url, phases=size != "county")
    if (args.large and not only) or "inprocess" in only:
        for size in sizes[1:] or ["prefecture"]:
            bench_run_at_scale(record, kind=kinds[-1], size=size)
    if pg_url and ((args.large and not only) or "served" in only):
        for size in sizes[1:] or ["prefecture"]:
            bench_run_served(record, size=size, server_url=pg_url)
    if (args.large and not only) or "processes" in only:
        # The gateway as 1 and as 2 processes sharing its port (KAOHE_GATEWAY_PROCESSES), same clients.
        bench_processes(record, calls=max(4, args.calls // 2))
    if not only or "load" in only:
        # The mixed load checks as it measures: every acknowledged write stored (and audited) once.
        for name, value in bench_load():
            print(f"LOAD {name}: {value}", flush=True)
    print(f"# load average at the end: {_load()}", flush=True)
    record.write(ROOT / "var" / "bench.json")
    return 0


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shows in every figure."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
