"""The inputs builder: the kernel's columns from the units, the tasks' facts and the stored records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from datetime import time as dtime
from typing import Any, Protocol

import numpy as np

from services.common import calendar as cal
from services.common.errors import FieldViolation, SchemeInvalid
from services.common.holiday_notice import HolidayNotice
from services.common.packed import Column, Strings
from services.common.scheme import Scheme, check_applies_to
from services.common.timeutil import NO_TIME, from_epoch, parse_date, parse_instant, to_epoch
from services.scoring.columns import Inputs, TaskRows, factorize
from services.scoring.record_columns import build_inputs
from services.scoring.task_ids import TaskIds, encoded, hash_joined

# A fact column as scoring holds it: task ids as integer codes (TaskIds), the rest as the wire brings them.
FactColumn = Column | TaskIds

# Departments, then townships, then any other category: the order the office reads its tables in.
CATEGORY_ORDER = {"department": 0, "township": 1}


class TasksPort(Protocol):
    """What scoring needs from the tasks service."""

    def units(self) -> list[tuple[str, str, str]]: ...

    def below(self, unit: str) -> list[str]: ...

    def facts(
        self, *, due_from: int, due_before: int, as_of: int, assigned_from: int = 0, assigned_before: int = 0
    ) -> dict[str, FactColumn]: ...

    def lookup(self, ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]: ...

    def refs(self, ids: Sequence[str]) -> dict[str, tuple[str, list[str], int]]: ...

    def notices(self) -> Mapping[int, HolidayNotice]: ...


def parse_cutoff(as_of: str, scheme: Scheme) -> datetime:
    """An instant: with an offset as written; without one, local time of the scheme's zone (SCORING.md
    reads the cutoff locally); a plain date is the end of that day."""
    if len(as_of) == 10:
        day = parse_date(as_of, field="as_of")
        return datetime.combine(day, dtime(23, 59, 59), tzinfo=scheme.tz)
    try:
        naive = datetime.fromisoformat(as_of)
    except ValueError:
        naive = None
    if naive is not None and naive.tzinfo is None:
        return parse_instant(naive.replace(tzinfo=scheme.tz).isoformat(), field="as_of")
    return parse_instant(as_of, field="as_of")


def default_as_of(year: int, scheme: Scheme) -> datetime:
    """The default cutoff of a year: its last second, local time."""
    return datetime.combine(datetime(year, 12, 31).date(), dtime(23, 59, 59), tzinfo=scheme.tz)


def gather(
    tasks: TasksPort,
    stored: Callable[[], Sequence[Any]],
    *,
    scheme: Scheme,
    served: Scheme,
    year: int,
    as_of: datetime,
    strict: bool,
) -> tuple[Inputs, str]:
    """Every input of a run, as columns, and a digest of them all; served is the tasks service's scheme.

    strict (for runs) refuses an applies_to entry that names no unit and no category, where a live
    preview just lets it apply to nobody.
    """
    unit_rows = sorted(
        tasks.units(), key=lambda u: (CATEGORY_ORDER.get(u[2], len(CATEGORY_ORDER)), u[2], u[0])
    )
    start = to_epoch(datetime(year, 1, 1, tzinfo=scheme.tz))
    end = to_epoch(datetime(year + 1, 1, 1, tzinfo=scheme.tz))
    unit_index = {u: i for i, (u, _, _) in enumerate(unit_rows)}
    # An imported holiday notice moves computed dues too: the tasks service keeps them under it, but
    # one imported between this run's reading of the notices and of the facts must not split the two.
    if scheme.sha256 == served.sha256 and not scheme.notices:
        columns = tasks.facts(due_from=start, due_before=end, as_of=to_epoch(as_of))
    else:
        # The tasks service computed due instants under the scheme it serves; this run's scheme may
        # count other holidays or limits, so every computed one that can fall in the year is redone.
        columns = tasks.facts(
            due_from=start,
            due_before=end,
            as_of=to_epoch(as_of),
            assigned_from=start - longest_limit_seconds(scheme),
            assigned_before=end,
        )
        recompute_dues(columns, scheme)
    columns["latest_at"] = latest_instants(columns, scheme)
    facts = task_rows(columns, unit_index)
    rows = stored()
    inputs = build_inputs(unit_rows, unit_index, facts, rows)
    digest = input_digest(unit_rows=unit_rows, year=year, as_of=as_of, scheme=scheme, facts=facts, rows=rows)
    if strict:
        check_applies_to(scheme, unit_ids=set(unit_index), categories={c for _, _, c in unit_rows})
    return inputs, digest


def longest_limit_seconds(scheme: Scheme) -> int:
    """An upper bound of the time from assignment to due under any task type of scheme."""
    day = 86_400
    longest = 0
    for spec in scheme.task_types.values():
        amount, unit = spec.limit.amount, spec.limit.unit
        seconds = {
            "minutes": 60 * amount,
            "hours": 3600 * amount,
            "calendar_days": day * (amount + 1),
            "months": day * (31 * amount + 1),
        }.get(unit)
        # Working days: five a week, plus the longest run of holidays a year can bring (Spring Festival,
        # National Day and local holidays together), generously.
        longest = max(longest, seconds if seconds is not None else day * (amount * 7 // 5 + 60))
    return longest


def recompute_dues(columns: dict[str, FactColumn], scheme: Scheme) -> None:
    """The computed (not given) due instants of fact columns, computed again under scheme (SCORING.md §2)."""
    given = np.asarray(columns["due_given"], dtype=bool)
    if given.all():
        return
    due = np.array(columns["due_at"], dtype=np.int64)
    assigned, tz = np.asarray(columns["assigned_at"]), scheme.tz
    types = _strings(columns["task_type"])
    calendar = scheme.calendar()
    by_day: dict[tuple[str, object], int] = {}
    for k in np.flatnonzero(~given).tolist():
        spec = scheme.task_types.get(types[k])
        if spec is None:
            task_id = _task_ids(columns["task_id"])[k]
            raise SchemeInvalid(
                [FieldViolation("task_types", f"没有任务类型“{types[k]}”（任务 {task_id} 用到）")]
            )
        start = from_epoch(int(assigned[k]), tz)
        # Clock limits run from the instant; the others only from its local date, computed once a day.
        key = (types[k], start if spec.limit.unit in ("minutes", "hours") else start.date())
        if key not in by_day:
            by_day[key] = to_epoch(cal.due_at(assigned_at=start, limit=spec.limit, calendar=calendar, tz=tz))
        due[k] = by_day[key]
    columns["due_at"] = due


def calendar_used(scheme: Scheme, *, year: int, as_of: datetime) -> list[dict[str, Any]]:
    """The calendar a run of year used: each year from the one before (assignments) to as_of's, with its
    source and, for a notice, that notice's digest."""
    calendar = scheme.calendar()
    used = []
    for y in range(year - 1, max(year, as_of.astimezone(scheme.tz).year) + 1):
        entry: dict[str, Any] = {"year": y, "source": calendar.source(y)}
        if y in scheme.notices:
            entry["notice_sha256"] = scheme.notices[y].sha256
        used.append(entry)
    return used


def latest_instants(columns: dict[str, FactColumn], scheme: Scheme) -> np.ndarray:
    """Each row's `latest` cut-off under scheme, NO_TIME where its type has none or its due is not the
    computed one (given, or extended: SCORING.md §2)."""
    n = len(np.asarray(columns["due_given"]))
    latest = np.full(n, NO_TIME, dtype=np.int64)
    capped = {t.id: t.latest for t in scheme.task_types.values() if t.latest is not None}
    if not capped or not n:
        return latest
    types = _strings(columns["task_type"])
    assigned, tz = np.asarray(columns["assigned_at"]), scheme.tz
    computed = ~np.asarray(columns["due_given"], dtype=bool) & np.isin(types, list(capped))
    calendar = scheme.calendar()
    for k in np.flatnonzero(computed & (assigned != NO_TIME)).tolist():
        start = from_epoch(int(assigned[k]), tz)
        latest[k] = to_epoch(cal.due_at(assigned_at=start, limit=capped[types[k]], calendar=calendar, tz=tz))
    return latest


def _strings(column: FactColumn) -> np.ndarray:
    return column.decode() if isinstance(column, Strings | TaskIds) else np.asarray(column, dtype=object)


def _task_ids(column: FactColumn) -> TaskIds:
    """The task id column as integer codes, however it came (the client makes it so as it arrives)."""
    if isinstance(column, TaskIds):
        return column
    if isinstance(column, Strings):
        return TaskIds.from_dictionary(column.codes, column.values)
    return TaskIds.of(str(t) for t in np.asarray(column, dtype=object).tolist())


def task_rows(columns: dict[str, FactColumn], unit_index: dict[str, int]) -> TaskRows:
    """Kernel task rows from the tasks service's fact columns; rows of unknown units are dropped."""
    units = columns["unit"]
    if isinstance(units, Strings):
        # Dictionary-encoded: each distinct unit looked up once, the rows by one take.
        lookup = np.array([unit_index.get(u, -1) for u in units.values], dtype=np.int64)
        unit = lookup[units.codes] if len(lookup) else np.zeros(len(units), dtype=np.int64)
    else:
        unit = np.array([unit_index.get(u, -1) for u in units.tolist()], dtype=np.int64)
    priorities = columns["priority"]
    if isinstance(priorities, Strings):
        priority, priority_names = priorities.codes.astype(np.int32, copy=False), list(priorities.values)
    else:
        priority, priority_names = factorize(_strings(priorities).tolist())
    keep = unit >= 0
    everything = bool(keep.all())

    def kept(a: Any) -> np.ndarray:
        array = np.asarray(a)
        return array if everything else array[keep]

    task_id = _task_ids(columns["task_id"])
    return TaskRows(
        task_id=task_id if everything else task_id.take(keep),
        unit=kept(unit),
        is_lead=kept(np.asarray(columns["is_lead"], dtype=bool)),
        priority=kept(priority),
        assigned_at=kept(np.asarray(columns["assigned_at"], dtype=np.int64)),
        due_at=kept(np.asarray(columns["due_at"], dtype=np.int64)),
        reported_at=kept(np.asarray(columns["reported_at"], dtype=np.int64)),
        cancelled_at=kept(np.asarray(columns["cancelled_at"], dtype=np.int64)),
        priority_names=tuple(priority_names),
        latest_at=kept(np.asarray(columns.get("latest_at", np.full(len(keep), NO_TIME)), dtype=np.int64)),
        extended=kept(np.asarray(columns.get("extended", np.zeros(len(keep))), dtype=bool)),
        verified=kept(np.asarray(columns.get("verified", np.zeros(len(keep))), dtype=bool)),
    )


def input_digest(
    *,
    unit_rows: Sequence[tuple[str, str, str]],
    year: int,
    as_of: datetime,
    scheme: Scheme,
    facts: TaskRows,
    rows: Sequence[Any],
) -> str:
    """The SHA-256 of every input of a run: two runs with the same digest scored the same inputs."""
    digest = hashlib.sha256()
    digest.update(json.dumps([unit_rows, year, to_epoch(as_of), scheme.sha256], ensure_ascii=False).encode())
    if scheme.notices:
        # Appended only when there are any, so that runs without a notice keep the digest they had.
        notices = [[y, scheme.notices[y].sha256] for y in sorted(scheme.notices)]
        digest.update(json.dumps(["holiday_notices", notices]).encode())
    # "\x1f".join of the task ids, then of the rows' priority names, as UTF-8: gathered from the codes.
    facts.task_id.hash_joined(digest)
    hash_joined(digest, facts.priority, *encoded(facts.priority_names))
    for column in (
        facts.unit,
        facts.is_lead,
        facts.assigned_at,
        facts.due_at,
        facts.reported_at,
        facts.cancelled_at,
    ):
        # The array's own buffer (hashlib takes one): no bytes copy of ten million rows.
        digest.update(np.ascontiguousarray(column, dtype="<i8").data)
    if (facts.latest_at != NO_TIME).any():
        # Only schemes with a `latest` add it: the digests of runs without one stay as they were.
        digest.update(np.ascontiguousarray(facts.latest_at, dtype="<i8").data)
    for row in rows:
        digest.update(
            json.dumps(
                [row.kind, row.rid, row.unit, row.payload, bool(row.voided)], ensure_ascii=False
            ).encode()
        )
    return digest.hexdigest()
