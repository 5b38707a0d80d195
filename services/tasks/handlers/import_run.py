"""One ledger import in progress: what must be global is compact (units; the first line of a missing task).

The checks of each batch (handlers/import_lines.py) and the replay and write once the file is read
(handlers/import_replay.py) share this state; the transaction is the import's one.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, tzinfo

from sqlalchemy import Connection

from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, InvalidArgument
from services.common.scheme import Scheme

# What identifies a known event's content: by, note, the line it came from (0: stored), an extend's due_at.
Seen = tuple[str, str, int, int | None]


def _seconds() -> int:
    return int(time.time())


@dataclass
class ImportRun:
    """The import's connection and scheme, its counts, and what it has seen of units, people and tasks."""

    conn: Connection
    scheme: Scheme
    calendar: WorkCalendar
    stamp: int = field(default_factory=_seconds)
    created: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    # unit id → (name, category, line it was defined on; 0 when stored), for the units seen so far.
    units: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    # A task an event named before any line defined it: its first such line.
    missing: dict[str, int] = field(default_factory=dict)
    # (task type, local date of assignment) → due instant, for the limits counted in whole days.
    due_by_day: dict[tuple[str, date], int] = field(default_factory=dict)
    batches: int = 0
    # unit id → its parent ("" when none), and person id → (values, line; 0 when stored), as seen so far.
    unit_parents: dict[str, str] = field(default_factory=dict)
    persons: dict[str, tuple[tuple[str, str, str, bool, str], int]] = field(default_factory=dict)

    @property
    def tz(self) -> tzinfo:
        return self.scheme.tz


def line_error(line: int, name: str, rule: str) -> InvalidArgument:
    """A refusal naming the file's line and the field: "line 3: title"."""
    return InvalidArgument([FieldViolation(f"line {line}: {name}", rule)])


def refuse_missing(run: ImportRun) -> None:
    """Refuses the first line that named a task no line defined."""
    task_id, line = min(run.missing.items(), key=lambda item: item[1])
    raise line_error(line, "task", f"任务 {task_id!r} 不存在（既未存储，也不在前面的行中）")
