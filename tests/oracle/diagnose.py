"""Which alternative reading explains a seed's disagreements?

`python -m tests.oracle.diagnose SEED [YEAR]` runs the seed against the real stack, then
scores it under each alternative reading (reference.VARIANTS, `last` orderings) and
prints how many disagreements remain under each — the reading the system follows
leaves none.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from tests.e2e.test_oracle import compare, run_case
from tests.oracle.generate import generate
from tests.oracle.reference import VARIANTS, load_ledger, load_scheme, score


def main() -> None:
    seed = int(sys.argv[1])
    year = int(sys.argv[2]) if len(sys.argv) > 2 else None
    case = generate(seed, year)
    with tempfile.TemporaryDirectory() as tmp:
        problems, shown = run_case(case, Path(tmp))
        Path(f"/tmp/oracle-shown-{seed}.json").write_text(json.dumps(shown, ensure_ascii=False, indent=1))
    print(f"seed {seed}: {len(problems)} disagreements")
    scheme, records = load_scheme(case.scheme_toml), load_ledger(case.ledger_lines)
    base = frozenset(filter(None, os.environ.get("BASE_VARIANTS", "").split(",")))  # readings to keep on
    options: list[tuple[str, dict]] = [("", {"variants": base})]
    options += [(v, {"variants": base | {v}}) for v in VARIANTS if v not in base]
    options += [(f"last_by={how}", {"last_by": how, "variants": base}) for how in ("start", "string")]
    for name, kwargs in options:
        left = sum(
            len(compare(doc, score(scheme, records, case.year, as_of, **kwargs), ""))
            for as_of, doc in zip(case.as_ofs, shown, strict=True)
        )
        print(f"  {name or '(as written)':24} {left}")


if __name__ == "__main__":
    main()
