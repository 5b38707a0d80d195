"""The performance record: one `BENCH` line per figure, each with the baseline measured in the same run."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def line(self) -> str:
        return (
            f"BENCH {self.name} {self.value:.4g} {self.unit} "
            f"baseline={self.baseline:.4g} ratio={self.ratio:.3g}"
        )


@dataclass
class Record:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        """Keeps figure and prints its line at once, so a long run shows progress."""
        self.figures.append(figure)
        print(figure.line() + (f"  # {figure.note}" if figure.note else ""), flush=True)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": _cpus(), "python": platform.python_version(), "system": platform.platform()},
            "figures": [asdict(f) | {"ratio": f.ratio} for f in self.figures],
        }
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _cpus() -> int:
    import os

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
