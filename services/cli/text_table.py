"""Text tables in Chinese for the terminal, aligned by display width, their strings shown and never obeyed."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from services.common.text import visible

__all__ = ["clean", "num", "pad", "sanitised", "table", "width"]

F = TypeVar("F", bound=Callable[..., str])


def clean(value: Any) -> Any:
    """value with each string's control and bidi characters escaped: the terminal shows, never obeys, them.

    A title holding ESC [ 2 J would otherwise clear the screen of whoever lists the tasks.
    """
    if isinstance(value, str):
        return visible(value, keep_newlines=False)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def sanitised(render: F) -> F:
    """The render function, given its data with the strings cleaned (see clean)."""

    @functools.wraps(render)
    def call(*args: Any, **kwargs: Any) -> str:
        return render(*clean(list(args)), **clean(kwargs))

    return call  # type: ignore[return-value]


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, size: int, right: bool = False) -> str:
    gap = " " * max(0, size - width(text))
    return gap + text if right else text + gap


def table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    cells = [[visible(str(c), keep_newlines=False) for c in row] for row in rows]
    sizes = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, sizes[i]) for i, h in enumerate(headers)), "  ".join("─" * s for s in sizes)]
    lines += ["  ".join(pad(c, sizes[i], i in numeric) for i, c in enumerate(r)) for r in cells]
    return "\n".join(lines)


def num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else str(value)
