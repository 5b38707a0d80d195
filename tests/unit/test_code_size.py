"""No class over 250 lines, no function over 60, no module over 400 under services/ (issue 20).

Measured with ast (a class or function from its first line, decorators aside, to its last; a module by its
lines); generated code (gen/) and tests lie outside services/. PENDING names today's offenders while they
are being split: the test fails for an offender missing from it, and for an entry of it that is no longer an
offender, so the set only shrinks — remove an entry in the change that splits it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_CLASS, MAX_FUNCTION, MAX_MODULE = 250, 60, 400

# "path" for a module, "path:Qual.name" for a class or function: the offenders being split now.
PENDING = {
    # modules
    # classes
}


def _sources() -> Iterator[Path]:
    for path in sorted((ROOT / "services").rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def _definitions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.AST]]:
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, node
            yield from _definitions(node.body, f"{name}.")
        elif isinstance(node, ast.If | ast.Try | ast.With):  # definitions made under a condition
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from _definitions(block, prefix)
            for handler in getattr(node, "handlers", []):
                yield from _definitions(handler.body, prefix)


def offenders() -> dict[str, str]:
    """Every module, class and function over its limit: key → "N lines (limit M)"."""
    found: dict[str, str] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE:
            found[rel] = f"module {lines} lines (limit {MAX_MODULE})"
        for name, node in _definitions(ast.parse(text, filename=rel).body, ""):
            assert isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            is_class = isinstance(node, ast.ClassDef)
            limit = MAX_CLASS if is_class else MAX_FUNCTION
            if size > limit:
                found[f"{rel}:{name}"] = f"{'class' if is_class else 'function'} {size} lines (limit {limit})"
    return found


def test_no_new_oversized_code() -> None:
    found = offenders()
    new = {key: why for key, why in found.items() if key not in PENDING}
    assert not new, "too long; split it (issue 20):\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(new.items())
    )


def test_pending_only_shrinks() -> None:
    found = offenders()
    done = sorted(PENDING - found.keys())
    assert not done, (
        "no longer over the limit; remove from PENDING in tests/unit/test_code_size.py:\n"
        + "\n".join(f"  {key}" for key in done)
    )
