"""How often the generated data tells the oracle's reading apart from other readings.

`python -m tests.oracle.sensitivity FIRST LAST` prints, per alternative reading, the
seeds (and cutoffs) where it would change some unit's total, rank, grade or veto —
so a passing system run on those seeds also rules that misreading out.
"""

from __future__ import annotations

import sys

from tests.oracle.generate import generate
from tests.oracle.reference import VARIANTS, load_ledger, load_scheme, score

KEYS = (
    "total",
    "rank",
    "grade",
    "veto",
    "timeliness_earned",
    "metrics_earned",
    "error_deduction",
    "bonus",
    "accountability_deduction",
)


def differs(a: dict, b: dict) -> bool:
    ua = {u["unit"]: u for u in a["units"]}
    ub = {u["unit"]: u for u in b["units"]}
    return any(
        abs(ua[k][f] - ub[k][f]) > 1e-9 if isinstance(ua[k][f], float) else ua[k][f] != ub[k][f]
        for k in ua
        for f in KEYS
    )


def main() -> None:
    first, last = int(sys.argv[1]), int(sys.argv[2])
    year = int(sys.argv[3]) if len(sys.argv) > 3 else None
    hits: dict[str, list[str]] = {v: [] for v in [*VARIANTS, "last_by_start", "last_by_string"]}
    for seed in range(first, last):
        case = generate(seed, year)
        scheme, records = load_scheme(case.scheme_toml), load_ledger(case.ledger_lines)
        for as_of in case.as_ofs:
            base = score(scheme, records, case.year, as_of)
            tag = f"{seed}{'' if as_of is None else '*'}"
            for v in VARIANTS:
                if differs(base, score(scheme, records, case.year, as_of, variants=frozenset({v}))):
                    hits[v].append(tag)
            for how in ("start", "string"):
                if differs(base, score(scheme, records, case.year, as_of, last_by=how)):
                    hits[f"last_by_{how}"].append(tag)
    for v, seeds in hits.items():
        print(f"{v:24} {len(seeds):3}  {' '.join(seeds)}")


if __name__ == "__main__":
    main()
