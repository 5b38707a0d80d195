"""What the tasks service tells others: timeliness facts for scoring, per-unit counts for the standing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np

from services.common import calendar as cal
from services.common.db import Database
from services.common.packed import Column, Strings
from services.common.ranges import check_year
from services.common.scheme import Scheme
from services.common.timeutil import NO_TIME, from_epoch, parse_instant, to_epoch
from services.common.vocabulary import COLOURS
from services.tasks.storage import repository as repo
from services.tasks.storage.fact_columns import timeliness_columns

# Rows per chunk of the facts stream unless the caller asks for another size: a few megabytes a message.
CHUNK_ROWS = 50_000


@dataclass
class UnitSummary:
    unit: str
    open_blue: int = 0
    open_yellow: int = 0
    open_red: int = 0
    overdue: int = 0
    reported_on_time: int = 0
    reported_late: int = 0
    on_time_rate: float = -1.0
    emergency_late: int = 0
    late_by_type: dict[str, int] = field(default_factory=dict)


class TaskFacts:
    """Reads over one tasks database for the other services, under one scheme."""

    def __init__(self, db: Database, scheme: Scheme) -> None:
        self.db = db
        self.scheme = scheme
        self.tz: tzinfo = scheme.tz
        self.calendar = scheme.calendar()
        # (sequence, computed at, next change): the last answer of version(), good until either moves on.
        self._next: tuple[int, int, int] | None = None

    def year_bounds(self, year: int) -> tuple[int, int]:
        """The epoch seconds of the year's first instant and of the next year's, in the scheme's zone."""
        start = datetime(year, 1, 1, tzinfo=self.tz)
        end = datetime(year + 1, 1, 1, tzinfo=self.tz)
        return to_epoch(start), to_epoch(end)

    def instant(self, text: str, *, name: str) -> int:
        """The instant text names (now when empty), as epoch seconds."""
        return to_epoch(parse_instant(text, field=name)) if text else int(time.time())

    def timeliness_facts(
        self,
        *,
        due_from: int,
        due_before: int,
        as_of: int,
        chunk_size: int,
        assigned_from: int = 0,
        assigned_before: int = 0,
    ) -> Iterator[dict[str, Column]]:
        """The facts scoring counts, in chunks of columns (see fact_columns.timeliness_columns)."""
        with self.db.read() as conn:
            if conn.dialect.name == "postgresql":
                # Read chunk by chunk, in several statements: all of them over one snapshot.
                conn.execution_options(isolation_level="REPEATABLE READ")
            for chunk in timeliness_columns(
                conn,
                due_from=due_from,
                due_before=due_before,
                as_of=as_of,
                chunk_size=chunk_size or CHUNK_ROWS,
                assigned_from=assigned_from,
                assigned_before=assigned_before,
            ):
                yield self._own_dues(chunk)

    def _own_dues(self, chunk: dict[str, Column]) -> dict[str, Column]:
        """chunk with the computed own due of each extended task whose extension came after the cutoff
        (left NO_TIME by the storage), taken under this service's scheme (SCORING.md §2)."""
        due = np.asarray(chunk["due_at"])
        missing = np.flatnonzero((due == NO_TIME) & ~np.asarray(chunk["due_given"], dtype=bool)).tolist()
        if not missing:
            return chunk
        due = due.copy()
        types = chunk["task_type"]
        names = types.decode() if isinstance(types, Strings) else np.asarray(types, dtype=object)
        assigned = np.asarray(chunk["assigned_at"])
        for k in missing:
            spec = self.scheme.task_types.get(str(names[k]))
            if spec is not None and assigned[k] != NO_TIME:
                start = from_epoch(int(assigned[k]), self.tz)
                limit = spec.limit
                due[k] = to_epoch(
                    cal.due_at(assigned_at=start, limit=limit, calendar=self.calendar, tz=self.tz)
                )
        chunk["due_at"] = due
        return chunk

    def version(self) -> tuple[int, int, int]:
        """(sequence, next change, now): the change sequence, and the first instant after now at which
        anything computed from these tasks as of now (colours, overdue, counted tasks) changes without a
        write (0: never). The sequence is read first, so the rest is at least as new as it."""
        at = int(time.time())
        sequence = self.db.sequence()
        memo = self._next
        if memo is not None and memo[0] == sequence and memo[1] <= at and (not memo[2] or at < memo[2]):
            return sequence, memo[2], at
        with self.db.read() as conn:
            due, due_in_day, reported, cancelled, event = repo.next_instants(conn, after=at)
            windows = repo.unreported_windows(conn, after=at)
        candidates = [t for t in (reported, cancelled, event) if t is not None]
        if due is not None:
            # Counted once due_at <= now, red once due_at < now: both edges, one second apart.
            candidates.append(due + 1 if due == at else due)
        if due_in_day is not None:
            candidates.append(due_in_day + 86400)
        if windows:
            assigned = np.array([w[0] for w in windows], dtype=np.int64)
            allowed = (np.array([w[1] for w in windows], dtype=np.int64) - assigned).astype(np.float64)
            # The first whole second at which colour() says yellow: elapsed >= threshold × allowed.
            yellow = assigned + np.ceil(self.scheme.timeliness.yellow_threshold * allowed).astype(np.int64)
            later = yellow[yellow > at]
            if later.size:
                candidates.append(int(later.min()))
        next_change = min(candidates) if candidates else 0
        self._next = (sequence, at, next_change)
        return sequence, next_change, at

    def summarize(
        self, *, year: int, as_of: str, units: tuple[str, ...] = ()
    ) -> tuple[list[UnitSummary], int]:
        """Per unit (of units; every unit when none): open tasks by colour, overdue, this year's reports."""
        check_year(year)
        at = self.instant(as_of, name="as_of")
        year = year or from_epoch(at, self.tz).year
        due_from, due_before = self.year_bounds(year)
        with self.db.read() as conn:
            rows = repo.summary_rows(conn, units=units)
            all_units = [u for u, _, _ in repo.list_units(conn, category="", after="", limit=1_000_000)]
        summaries = {u: UnitSummary(u) for u in (units or all_units)}
        if not rows:
            return list(summaries.values()), at
        unit_col = np.array([r[0] for r in rows], dtype=object)
        types = np.array([r[1] for r in rows], dtype=object)
        state = np.array([r[2] for r in rows], dtype=object)
        assigned = np.array([r[3] if r[3] is not None else 0 for r in rows], dtype=np.int64)
        due = np.array([r[4] for r in rows], dtype=np.int64)
        reported = np.array([r[5] if r[5] is not None else NO_TIME for r in rows], dtype=np.int64)
        has_report = reported != NO_TIME
        live = ~np.isin(state, ["closed", "cancelled", "created"])
        is_open = live & ~has_report
        colours = cal.colours_many(
            at=at, assigned_at=assigned, due_at=due, yellow_threshold=self.scheme.timeliness.yellow_threshold
        )
        in_year = (due >= due_from) & (due < due_before) & (due <= at) & (state != "cancelled")
        on_time = in_year & has_report & (reported <= due)
        late = in_year & has_report & (reported > due)
        urgent_types = [t.id for t in self.scheme.task_types.values() if t.limit.unit in ("minutes", "hours")]
        emergency = (
            np.isin(types, urgent_types)
            & ~np.isin(state, ["cancelled", "created"])
            & (due <= at)
            & (due > at - 86400)
            & (~has_report | (reported > due))
        )
        codes, index = np.unique(unit_col, return_inverse=True)

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(index[mask], minlength=len(codes))

        blue, yellow, red = (count(is_open & (colours == c)) for c in COLOURS)
        ontime_n, late_n, emergency_n = count(on_time), count(late), count(emergency)
        for i, code in enumerate(codes):
            summary = summaries.setdefault(str(code), UnitSummary(str(code)))
            summary.open_blue, summary.open_yellow, summary.open_red = (
                int(blue[i]),
                int(yellow[i]),
                int(red[i]),
            )
            summary.overdue = int(red[i])
            summary.reported_on_time, summary.reported_late = int(ontime_n[i]), int(late_n[i])
            reported_n = summary.reported_on_time + summary.reported_late
            summary.on_time_rate = summary.reported_on_time / reported_n if reported_n else -1.0
            summary.emergency_late = int(emergency_n[i])
        for unit_code, task_type in zip(unit_col[late], types[late], strict=True):
            by_type = summaries[str(unit_code)].late_by_type
            by_type[str(task_type)] = by_type.get(str(task_type), 0) + 1
        return list(summaries.values()), at
