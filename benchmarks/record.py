"""The performance record: one `BENCH` line per figure, each with the baseline measured in the same run."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """A figure, its baseline measured in the same run, and the targets it is held to (if any).

    target bounds the value, ratio_target the value over its baseline; both are upper bounds unless
    higher_is_better (then target is a lower bound of the value, e.g. lines/s).
    """

    name: str
    value: float
    unit: str
    baseline: float
    note: str = ""
    target: float | None = None
    ratio_target: float | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def shortfall(self) -> float | None:
        """How many times the worst target is missed (1 or less: met); None when there is no target."""
        factors = []
        if self.target is not None and self.value > 0:
            factors.append(self.target / self.value if self.higher_is_better else self.value / self.target)
        if self.ratio_target is not None and self.baseline:
            factors.append(self.ratio / self.ratio_target)
        return max(factors) if factors else None

    @property
    def verdict(self) -> str:
        short = self.shortfall
        if short is None:
            return ""
        return "ok" if short <= 1 else f"short by {short:.1f}×"

    def line(self) -> str:
        bound = "≥" if self.higher_is_better else "≤"
        targets = f" target{bound}{self.target:.4g}" if self.target is not None else ""
        targets += f" ratio_target≤{self.ratio_target:.3g}" if self.ratio_target is not None else ""
        verdict = f"  {self.verdict}" if self.verdict else ""
        return (
            f"BENCH {self.name} {self.value:.4g} {self.unit}{targets} "
            f"baseline={self.baseline:.4g} ratio={self.ratio:.3g}{verdict}"
        )


@dataclass
class Record:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        """Keeps figure and prints its line at once, so a long run shows progress."""
        self.figures.append(figure)
        print(figure.line() + (f"  # {figure.note}" if figure.note else ""), flush=True)

    def write(self, path: Path) -> None:
        """This run's figures into path; the figures of earlier runs this one did not measure are kept."""
        path.parent.mkdir(parents=True, exist_ok=True)
        taken_at = datetime.now(UTC).isoformat(timespec="seconds")
        machine = {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "system": platform.platform(),
            "load_average": os.getloadavg(),
        }
        measured = {f.name for f in self.figures}
        kept = [f for f in _earlier(path) if f.get("name") not in measured]
        extra = {"taken_at": taken_at, "machine": machine}
        fresh = [asdict(f) | {"ratio": f.ratio, "verdict": f.verdict} | extra for f in self.figures]
        document = {"taken_at": taken_at, "figures": kept + fresh}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _earlier(path: Path) -> list[dict[str, Any]]:
    """The figures an earlier run wrote to path (none when there is no readable file)."""
    try:
        figures = json.loads(path.read_text()).get("figures", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in figures if isinstance(f, dict)]


def _cpus() -> int:
    return os.cpu_count() or 0


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    """The median wall time of work, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0–100) of samples, nearest rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
