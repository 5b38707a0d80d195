"""`make bench`: the performance record — every figure with its baseline, printed and kept in var/bench.json.

`make bench ARGS=--large` (or KAOHE_BENCH_LARGE=1) adds the province kernel and a prefecture's run; with
KAOHE_TEST_PG_URL set, the import and the runs are measured on PostgreSQL too.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.imports import bench_import
from benchmarks.kernel import ROOT, bench_kernel
from benchmarks.load import bench_load, bench_processes
from benchmarks.record import Record
from benchmarks.runs import bench_run_at_scale
from benchmarks.stack import bench_import_and_run, bench_overview
from benchmarks.web import bench_pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--large", action="store_true", default=os.environ.get("KAOHE_BENCH_LARGE") == "1")
    parser.add_argument(
        "--province",
        action="store_true",
        help="also a province's run (30,000 units, 10M tasks; filling it alone takes several minutes) and "
        "its ledger's import (~30M lines; about 35 minutes)",
    )
    parser.add_argument("--calls", type=int, default=60, help="overview calls per client (1 client)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: kernel,overview,web,import,ledger,prefecture,province,load,processes",
    )
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    kinds = ["sqlite"] + (["postgres"] if os.environ.get("KAOHE_TEST_PG_URL") else [])
    record = Record()
    print("BENCH <name> <value> <unit> baseline=<value> ratio=<value>  (this machine, this run)", flush=True)
    if not only or "kernel" in only:
        bench_kernel(record, large=args.large)
    if not only or "overview" in only:
        bench_overview(record, calls=args.calls)
    if not only or "web" in only:
        bench_pages(record, calls=max(4, args.calls // 2))
    if not only or "import" in only:
        for kind in kinds:
            bench_import_and_run(record, kind=kind)
    if not only or "ledger" in only:
        # A generated county's ledger by `kaohe import` on PostgreSQL; a prefecture's with --large.
        for size in (
            ["county"] + (["prefecture"] if args.large else []) + (["province"] if args.province else [])
        ):
            bench_import(record, size=size)
    if args.large or "prefecture" in only:
        bench_run_at_scale(record, kind=kinds[-1], size="prefecture")
    if args.province or "province" in only:
        bench_run_at_scale(record, kind=kinds[-1], size="province")
    if args.large or "processes" in only:
        # The gateway as 1 and as 2 processes sharing its port (KAOHE_GATEWAY_PROCESSES), same clients.
        bench_processes(record, calls=max(4, args.calls // 2))
    if not only or "load" in only:
        # The mixed load checks as it measures: every acknowledged write stored (and audited) once.
        for name, value in bench_load():
            print(f"LOAD {name}: {value}", flush=True)
    record.write(ROOT / "var" / "bench.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
