"""Run many seeds against the real stack (outside pytest): `python -m tests.oracle.sweep FIRST LAST [YEAR]`.

Prints each seed's disagreements with the oracle; exits 1 when there are any.
"""

from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.test_oracle import run_case
from tests.oracle.generate import generate
from tests.oracle.reference import load_ledger, load_scheme, score


def one(seed: int, year: int | None) -> tuple[int, list[str]]:
    with tempfile.TemporaryDirectory(prefix=f"oracle-{seed}-") as tmp:
        case = generate(seed, year)
        try:
            variants = frozenset(filter(None, os.environ.get("ORACLE_VARIANTS", "").split(",")))
            problems, shown = run_case(case, Path(tmp), variants)
        except AssertionError as error:
            return seed, [f"seed {seed}: {error}"]
        scheme, records = load_scheme(case.scheme_toml), load_ledger(case.ledger_lines)
        for as_of, document in zip(case.as_ofs, shown, strict=True):
            mine = score(scheme, records, case.year, as_of)["calendar_warnings"]
            theirs = document.get("calendar_warnings")
            if [str(y) for y in mine] != [str(y) for y in theirs or []]:
                problems.append(f"(note) as_of {as_of}: calendar_warnings system {theirs} oracle-used {mine}")
    return seed, problems


def main() -> int:
    first, last = int(sys.argv[1]), int(sys.argv[2])
    year = int(sys.argv[3]) if len(sys.argv) > 3 else None
    failed = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for seed, problems in pool.map(lambda s: one(s, year), range(first, last)):
            print(f"seed {seed}: {'ok' if not problems else f'{len(problems)} disagreements'}", flush=True)
            for line in problems:
                print("   ", line, flush=True)
            failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
