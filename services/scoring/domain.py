"""The scoring kernel: SCORING.md §4–§8 and §10 as vectorised numpy over columns, with no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

import numpy as np

from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, InvalidArgument, SchemeInvalid
from services.common.scheme import Metric, Scheme
from services.common.timeutil import NO_TIME

__all__ = [
    "GRADES",
    "NO_TIME",
    "SLACK",
    "STATUSES",
    "AccountabilityRows",
    "Assessment",
    "ErrorRows",
    "IncentiveRows",
    "Inputs",
    "ReadingRows",
    "TaskRows",
    "ToleranceRows",
    "UnitTable",
    "round_total",
    "score",
]

SLACK = 1e-9
STATUSES = ("met", "below", "missing", "not_applicable")
GRADES = ("excellent", "good", "fair", "poor")

_MET, _BELOW, _MISSING, _NOT_APPLICABLE = 0, 1, 2, 3
_NO_DECISION, _EXEMPT, _MITIGATE = 0, 1, 2
_DECISIONS = {"exempt": _EXEMPT, "mitigate": _MITIGATE}
_EXCELLENT, _GOOD, _FAIR, _POOR = 0, 1, 2, 3
_DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_CENT = Decimal("0.01")


# --- inputs -----------------------------------------------------------------------------------


def _objects(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=object)
    if a.ndim != 1:
        # np.asarray turns a list of equal-length tuples into a 2-D array; a column is 1-D.
        out = np.empty(len(a), dtype=object)
        out[:] = list(x)
        return out
    return a


def _int64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _float64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _bools(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=bool)


def _days(x: Any) -> np.ndarray:
    return np.asarray(x, dtype="datetime64[D]")


def _priority_codes(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a.astype(np.int32) if a.dtype.kind in "iu" else _objects(x)


def factorize(values: Iterable[Any]) -> tuple[np.ndarray, list[Any]]:
    """(codes, distinct values in order of first appearance), encoded in C by mapping over a dict."""
    index: defaultdict[Any, int] = defaultdict(int)
    index.default_factory = index.__len__
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64)
    return codes, list(index)


def _none(dtype: Any = object) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


def _coerce(rows: object, columns: Mapping[str, Callable[[Any], np.ndarray]]) -> None:
    """Turn each column of a frozen row dataclass into a 1-D array of its dtype, all of one length."""
    length: int | None = None
    for name, convert in columns.items():
        a = convert(getattr(rows, name))
        if a.ndim != 1:
            raise ValueError(f"{type(rows).__name__}.{name} must be one-dimensional")
        if length is None:
            length = len(a)
        elif len(a) != length:
            raise ValueError(f"{type(rows).__name__}.{name} has {len(a)} rows, the others {length}")
        object.__setattr__(rows, name, a)


@dataclass(frozen=True)
class UnitTable:
    """The assessed units; a unit's code is its position here."""

    ids: Sequence[str]
    names: Sequence[str]
    categories: Sequence[str]

    def __post_init__(self) -> None:
        for name in ("ids", "names", "categories"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not len(self.ids) == len(self.names) == len(self.categories):
            raise ValueError("UnitTable columns differ in length")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("UnitTable has duplicate unit ids")

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.ids)}

    def code(self, unit_id: str) -> int:
        """The code of a unit id; InvalidArgument when it is not in the table."""
        try:
            return self._index[unit_id]
        except KeyError:
            raise InvalidArgument("unit", f'unknown unit "{unit_id}"') from None

    def codes(self, unit_ids: Iterable[str]) -> np.ndarray:
        """Codes of many unit ids, as an int64 array."""
        return np.fromiter((self.code(u) for u in unit_ids), dtype=np.int64)


@dataclass(frozen=True)
class TaskRows:
    """One row per (task, involved unit): the lead row and one per co-unit; instants in epoch seconds.

    `priority` is either the priority names, or integer codes into `priority_names` (how the
    service passes a province's ten million rows without a Python string per row).
    """

    task_id: np.ndarray
    unit: np.ndarray
    is_lead: np.ndarray
    priority: np.ndarray
    assigned_at: np.ndarray
    due_at: np.ndarray
    reported_at: np.ndarray
    cancelled_at: np.ndarray
    priority_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _coerce(
            self,
            {
                "task_id": _objects,
                "unit": _int64,
                "is_lead": _bools,
                "priority": _priority_codes,
                "assigned_at": _int64,
                "due_at": _int64,
                "reported_at": _int64,
                "cancelled_at": _int64,
            },
        )
        if self.priority.dtype == object:
            names, codes = np.unique(self.priority.astype(str), return_inverse=True)
            object.__setattr__(self, "priority", codes.astype(np.int32).reshape(-1))
            object.__setattr__(self, "priority_names", tuple(str(n) for n in names))
        else:
            object.__setattr__(self, "priority_names", tuple(self.priority_names))
            if len(self.priority) and (
                int(self.priority.min()) < 0 or int(self.priority.max()) >= len(self.priority_names)
            ):
                raise ValueError("TaskRows.priority has codes outside priority_names")

    def __len__(self) -> int:
        return len(self.task_id)

    def priorities(self, rows: np.ndarray) -> list[str]:
        """The priority name of each of rows."""
        names = self.priority_names
        return [names[c] for c in self.priority[rows].tolist()]

    @classmethod
    def empty(cls) -> TaskRows:
        """No task rows."""
        return cls(
            task_id=_none(),
            unit=_none(np.int64),
            is_lead=_none(bool),
            priority=_none(np.int32),
            assigned_at=_none(np.int64),
            due_at=_none(np.int64),
            reported_at=_none(np.int64),
            cancelled_at=_none(np.int64),
        )


@dataclass(frozen=True)
class ErrorRows:
    """差错通报 records; voided when an appeal was upheld or the office voided it."""

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    category: np.ndarray
    severity: np.ndarray
    voided: np.ndarray

    def __post_init__(self) -> None:
        _coerce(
            self,
            {
                "id": _objects,
                "unit": _int64,
                "date": _days,
                "category": _objects,
                "severity": _objects,
                "voided": _bools,
            },
        )

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def empty(cls) -> ErrorRows:
        """No error reports."""
        return cls(*(_none() for _ in range(6)))


@dataclass(frozen=True)
class ReadingRows:
    """Indicator readings in record order; value or numerator/denominator, nan when absent."""

    unit: np.ndarray
    metric: np.ndarray
    period: np.ndarray
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray

    def __post_init__(self) -> None:
        _coerce(
            self,
            {
                "unit": _int64,
                "metric": _objects,
                "period": _objects,
                "value": _float64,
                "numerator": _float64,
                "denominator": _float64,
            },
        )

    def __len__(self) -> int:
        return len(self.unit)

    @classmethod
    def empty(cls) -> ReadingRows:
        """No readings."""
        return cls(*(_none() for _ in range(6)))


@dataclass(frozen=True)
class IncentiveRows:
    """激励 records."""

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    level: np.ndarray

    def __post_init__(self) -> None:
        _coerce(self, {"id": _objects, "unit": _int64, "date": _days, "level": _objects})

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def empty(cls) -> IncentiveRows:
        """No incentives."""
        return cls(*(_none() for _ in range(4)))


@dataclass(frozen=True)
class ToleranceRows:
    """容错纠错 decisions in record order: target_type 'task' or 'error_report', decision 'exempt' or 'mitigate'."""

    id: np.ndarray
    unit: np.ndarray
    target_type: np.ndarray
    target: np.ndarray
    decision: np.ndarray
    date: np.ndarray

    def __post_init__(self) -> None:
        _coerce(
            self,
            {
                "id": _objects,
                "unit": _int64,
                "target_type": _objects,
                "target": _objects,
                "decision": _objects,
                "date": _days,
            },
        )

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def empty(cls) -> ToleranceRows:
        """No tolerance decisions."""
        return cls(*(_none() for _ in range(6)))


@dataclass(frozen=True)
class AccountabilityRows:
    """问责 records."""

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    kind: np.ndarray

    def __post_init__(self) -> None:
        _coerce(self, {"id": _objects, "unit": _int64, "date": _days, "kind": _objects})

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def empty(cls) -> AccountabilityRows:
        """No accountability records."""
        return cls(*(_none() for _ in range(4)))


@dataclass(frozen=True)
class Inputs:
    """Everything a run scores; every row's unit is a code into units."""

    units: UnitTable
    tasks: TaskRows = field(default_factory=TaskRows.empty)
    errors: ErrorRows = field(default_factory=ErrorRows.empty)
    readings: ReadingRows = field(default_factory=ReadingRows.empty)
    incentives: IncentiveRows = field(default_factory=IncentiveRows.empty)
    tolerances: ToleranceRows = field(default_factory=ToleranceRows.empty)
    accountability: AccountabilityRows = field(default_factory=AccountabilityRows.empty)

    def __post_init__(self) -> None:
        n = len(self.units)
        for name in ("tasks", "errors", "readings", "incentives", "tolerances", "accountability"):
            codes = getattr(self, name).unit
            if len(codes) and (codes.min() < 0 or codes.max() >= n):
                raise ValueError(f"Inputs.{name}.unit holds a code outside 0..{n - 1}")


# --- time -------------------------------------------------------------------------------------


def _epoch_seconds(moment: datetime) -> int:
    """Whole epoch seconds, floored, so that `t <= as_of` on whole seconds means the same as on instants."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def _day_number(d: date) -> int:
    return (d - _EPOCH_DAY).days


def _offset(seconds: int, tz: tzinfo) -> int:
    delta = datetime.fromtimestamp(seconds, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _offsets(t: np.ndarray, tz: tzinfo) -> np.ndarray | int:
    """The UTC offset in seconds at each epoch second in t; a plain int when it is one for all."""
    if t.size == 0:
        return 0
    utc_day = t // _DAY
    lo = int(utc_day.min())
    # Offsets are looked up once per distinct UTC day, not per row: a zone changes its offset
    # at most at a few instants a year, and those days are bisected to the second.
    distinct = np.unique(utc_day) if int(utc_day.max()) - lo > 200_000 else _present(utc_day)
    start = np.fromiter((_offset(int(d) * _DAY, tz) for d in distinct), dtype=np.int64, count=len(distinct))
    end = np.fromiter(
        (_offset(int(d) * _DAY + _DAY - 1, tz) for d in distinct), dtype=np.int64, count=len(distinct)
    )
    if (start == start[0]).all() and (end == start[0]).all():
        return int(start[0])
    pos = np.searchsorted(distinct, utc_day)
    off = start[pos]
    for k in np.flatnonzero(start != end):
        lo_s, hi_s = int(distinct[k]) * _DAY, int(distinct[k]) * _DAY + _DAY - 1
        while lo_s < hi_s:
            mid = (lo_s + hi_s) // 2
            if _offset(mid, tz) == end[k]:
                hi_s = mid
            else:
                lo_s = mid + 1
        off[(pos == k) & (t >= lo_s)] = end[k]
    return off


def _local_days(t: np.ndarray, tz: tzinfo) -> np.ndarray:
    """The local calendar day (days since 1970-01-01) of each epoch second in t."""
    return (t + _offsets(t, tz)) // _DAY


def _present(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a compact int64 array, in linear time."""
    lo = int(values.min())
    seen = np.zeros(int(values.max()) - lo + 1, dtype=bool)
    seen[values - lo] = True
    return np.flatnonzero(seen).astype(np.int64) + lo


def _iso_many(t: np.ndarray, tz: tzinfo) -> list[str | None]:
    """ISO 8601 local times with their offsets for epoch seconds; None for NO_TIME."""
    out: list[str | None] = [None] * len(t)
    has = np.flatnonzero(t != NO_TIME)
    if not has.size:
        return out
    seconds = t[has]
    off = np.broadcast_to(np.asarray(_offsets(seconds, tz), dtype=np.int64), seconds.shape)
    local = np.datetime_as_string((seconds + off).astype("datetime64[s]"), unit="s").tolist()
    zones = {
        o: f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
        for o in np.unique(off).tolist()
    }
    for k, text, o in zip(has.tolist(), local, off.tolist(), strict=True):
        out[k] = text + zones[o]
    return out


def _iso_day(day: np.datetime64) -> str:
    return str(day.astype("datetime64[D]"))


# --- lookups ----------------------------------------------------------------------------------


def _lookup(
    values: np.ndarray, table: Mapping[str, float], *, key: str, noun: str, record: str, ids: np.ndarray
) -> np.ndarray:
    """table[value] for each value; SchemeInvalid naming every value the scheme does not know."""
    out = np.full(len(values), np.nan)
    known = np.zeros(len(values), dtype=bool)
    for name, number in table.items():
        hit = values == name
        out[hit] = number
        known |= hit
    if not known.all():
        _refuse_unknown(
            ((str(values[i]), str(ids[i])) for i in np.flatnonzero(~known)), key=key, noun=noun, record=record
        )
    return out


def _refuse_unknown(used: Iterable[tuple[str, str]], *, key: str, noun: str, record: str) -> None:
    """SchemeInvalid naming each (value, the first record using it) the scheme's key has no entry for."""
    unknown: dict[str, str] = {}
    for value, by in used:
        unknown.setdefault(value, by)
    raise SchemeInvalid(
        [
            FieldViolation(key, f'has no entry for {noun} "{v}" (used by {record} {r})')
            for v, r in unknown.items()
        ]
    )


def _chosen_tolerances(tol: ToleranceRows, target_type: str) -> dict[tuple[int, str], int]:
    """The decision that stands per (unit, target): the latest by date, ties to the later record."""
    chosen: dict[tuple[int, str], int] = {}
    if not len(tol):
        return chosen
    order = np.lexsort((np.arange(len(tol)), tol.date.astype(np.int64)))
    for i in order[tol.target_type[order] == target_type]:
        chosen[(int(tol.unit[i]), str(tol.target[i]))] = int(i)
    return chosen


def _match_tolerances(
    units: np.ndarray,
    ids: np.ndarray,
    chosen: Mapping[tuple[int, str], int],
    n_units: int,
    id_rows: np.ndarray | None = None,
) -> np.ndarray:
    """For each row (unit code, target id) the tolerance row that applies to it, -1 for none.

    Row k's id is ids[k], or ids[id_rows[k]] when id_rows is given (ids are then gathered only
    for the rows of units that have decisions).
    """
    out = np.full(len(units), -1, dtype=np.int64)
    if not chosen or not len(units):
        return out
    involved = np.zeros(n_units, dtype=bool)
    involved[[u for u, _ in chosen]] = True
    candidates = np.flatnonzero(involved[units])
    if not candidates.size:
        return out
    # Only the rows of units that have decisions are compared, one unit's rows per decision.
    order = candidates[np.argsort(units[candidates], kind="stable")]
    bounds = np.searchsorted(units[order], np.arange(n_units + 1), "left").tolist()
    for (u, target), row in chosen.items():
        segment = order[bounds[u] : bounds[u + 1]]
        segment_ids = ids[segment] if id_rows is None else ids[id_rows[segment]]
        out[segment[segment_ids == target]] = row
    return out


def _decision_codes(tol: ToleranceRows) -> np.ndarray:
    codes = np.zeros(len(tol), dtype=np.int64)
    for name, code in _DECISIONS.items():
        codes[tol.decision == name] = code
    if len(tol) and (codes == _NO_DECISION).any():
        bad = tol.decision[codes == _NO_DECISION][0]
        raise InvalidArgument("tolerances.decision", f'unknown decision "{bad}": must be exempt or mitigate')
    return codes


def _apply_decisions(credit: np.ndarray, decision: np.ndarray, mitigation_factor: float) -> np.ndarray:
    return np.where(
        decision == _EXEMPT,
        1.0,
        np.where(decision == _MITIGATE, 1.0 - (1.0 - credit) * mitigation_factor, credit),
    )


# --- the parts of the score -------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskPart:
    rows: np.ndarray  # counted rows of TaskRows
    weight: np.ndarray
    credit: np.ndarray
    late_days: np.ndarray  # L when late, 0 when on time, -1 when nothing was reported
    reported: np.ndarray  # the counting report, NO_TIME when none
    tolerance: np.ndarray  # row of ToleranceRows, -1 for none
    sum_w: np.ndarray  # per unit
    earned: np.ndarray
    max: np.ndarray


def _timeliness(
    inputs: Inputs, scheme: Scheme, cal: WorkCalendar, *, year: int, as_of: int, decisions: np.ndarray
) -> _TaskPart:
    tk, n = inputs.tasks, len(inputs.units)
    tz, rules = scheme.tz, scheme.timeliness
    # "due_at within year Y (local dates)" is the same as: from Y-01-01 00:00 local, before Y+1-01-01.
    year_from = _epoch_seconds(datetime(year, 1, 1, tzinfo=tz))
    year_before = _epoch_seconds(datetime(year + 1, 1, 1, tzinfo=tz))
    due_all = tk.due_at
    counted_mask = (due_all >= year_from) & (due_all < year_before) & (due_all <= as_of)
    counted_mask &= (tk.cancelled_at > as_of) | (tk.cancelled_at == NO_TIME)

    # Weight per (priority, role) from one table: index 2 × priority code + is_lead.
    names = tk.priority_names
    table = np.array([rules.priority_weights.get(name, np.nan) for name in names], dtype=np.float64)
    role_table = np.empty(2 * len(names))
    role_table[0::2], role_table[1::2] = table * rules.co_unit_weight, table
    rows = np.flatnonzero(counted_mask)
    codes = tk.priority[rows]
    if np.isnan(table).any():
        _unknown_priorities(tk, rows, codes, table)
    weight = role_table[2 * codes + tk.is_lead[rows]]
    if not (weight > 0).all():
        keep = weight > 0
        rows, weight = rows[keep], weight[keep]
    units = tk.unit[rows]

    due, reported = due_all[rows], tk.reported_at[rows]
    has_report = (reported <= as_of) & (reported != NO_TIME)
    late = has_report & (reported > due)
    credit = has_report.astype(np.float64)
    late_days = has_report.astype(np.int64) - 1
    if late.any():
        late_rows = np.flatnonzero(late)
        between = cal.working_days_between_many(
            _local_days(due[late_rows], tz).astype("datetime64[D]"),
            _local_days(reported[late_rows], tz).astype("datetime64[D]"),
        )
        late_days[late_rows] = np.maximum(1, between)
        credit[late_rows] = np.maximum(0.0, 1.0 - rules.late_penalty_per_working_day * late_days[late_rows])
    tolerance = _match_tolerances(
        units, tk.task_id, _chosen_tolerances(inputs.tolerances, "task"), n, id_rows=rows
    )
    tolerated = np.flatnonzero(tolerance >= 0)
    if tolerated.size:
        credit[tolerated] = _apply_decisions(
            credit[tolerated], decisions[tolerance[tolerated]], scheme.errors.mitigation_factor
        )

    sum_w = np.bincount(units, weights=weight, minlength=n)
    sum_wc = np.bincount(units, weights=weight * credit, minlength=n)
    counted = np.bincount(units, minlength=n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        earned = np.where(counted, rules.points * sum_wc / sum_w, 0.0)
    return _TaskPart(
        rows=rows,
        weight=weight,
        credit=credit,
        late_days=late_days,
        reported=np.where(has_report, reported, NO_TIME),
        tolerance=tolerance,
        sum_w=sum_w,
        earned=earned,
        max=np.where(counted, rules.points, 0.0),
    )


def _unknown_priorities(tk: TaskRows, rows: np.ndarray, codes: np.ndarray, table: np.ndarray) -> None:
    """SchemeInvalid naming each priority of a counted task that the scheme has no weight for."""
    used = np.flatnonzero(np.isnan(table[codes]))
    if used.size:
        _refuse_unknown(
            ((tk.priority_names[codes[k]], str(tk.task_id[rows[k]])) for k in used),
            key="timeliness.priority_weights",
            noun="priority",
            record="task",
        )


def _period_bounds(period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Year and end day (days since 1970-01-01) of periods written YYYY, YYYY-MM or YYYY-MM-DD."""
    if not len(period):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # A year of readings names a few dozen distinct periods: each is parsed once.
    codes, names = factorize(period.tolist())
    distinct = np.empty(len(names), dtype=object)
    distinct[:] = names
    year, end = _parse_periods(distinct)
    return year[codes], end[codes]


def _parse_periods(period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    text = period.astype(str)
    if text.dtype.itemsize // 4 > 10:
        _bad_period(text, np.char.str_len(text) > 10)
    chars = text.astype("U10").view(np.uint32).reshape(-1, 10).astype(np.int64)
    length = (chars != 0).sum(axis=1)
    digit = chars - ord("0")
    is_digit = (digit >= 0) & (digit <= 9)
    dash = chars == ord("-")
    ok = np.isin(length, (4, 7, 10)) & is_digit[:, :4].all(axis=1)
    ok &= (length < 7) | (dash[:, 4] & is_digit[:, 5:7].all(axis=1))
    ok &= (length < 10) | (dash[:, 7] & is_digit[:, 8:10].all(axis=1))
    year = digit[:, 0] * 1000 + digit[:, 1] * 100 + digit[:, 2] * 10 + digit[:, 3]
    month = np.where(length >= 7, digit[:, 5] * 10 + digit[:, 6], 12)
    day = np.where(length >= 10, digit[:, 8] * 10 + digit[:, 9], 0)
    ok &= (month >= 1) & (month <= 12)
    month0 = np.where(ok, (year - 1970) * 12 + month - 1, 0)
    start = month0.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    next_start = (month0 + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= (length < 10) | ((day >= 1) & (day <= next_start - start))
    if not ok.all():
        _bad_period(text, ~ok)
    end = np.where(length == 10, start + day - 1, next_start - 1)
    return year, end


def _bad_period(text: np.ndarray, bad: np.ndarray) -> None:
    raise InvalidArgument(
        "readings.period", f'"{text[bad][0]}" is not a period written YYYY, YYYY-MM or YYYY-MM-DD'
    )


@dataclass(frozen=True)
class _MetricPart:
    metric: Metric
    applies: np.ndarray  # per unit
    value: np.ndarray  # per unit, nan when missing or not applicable
    status: np.ndarray  # per unit, index into STATUSES
    earned: np.ndarray
    max: np.ndarray


def _applies(metric: Metric, units: UnitTable) -> np.ndarray:
    if not metric.applies_to:
        return np.ones(len(units), dtype=bool)
    names = set(metric.applies_to)
    return np.fromiter(
        (u in names or c in names for u, c in zip(units.ids, units.categories, strict=True)),
        dtype=bool,
        count=len(units),
    )


def _aggregate(
    kind: str | None, units: np.ndarray, values: np.ndarray, end: np.ndarray, n: int
) -> np.ndarray:
    """The annual value per unit of a value metric (nan where a unit has no reading)."""
    count = np.bincount(units, minlength=n)
    if kind in ("sum", "mean"):
        total = np.bincount(units, weights=values, minlength=n)
        out = total if kind == "sum" else total / np.maximum(count, 1)
    elif kind == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, units, values)
    elif kind == "min":
        out = np.full(n, np.inf)
        np.minimum.at(out, units, values)
    else:
        # last: the latest period by its end date, ties to the later row; rows arrive in record order.
        order = np.lexsort((np.arange(len(units)), end, units))
        sorted_units = units[order]
        last_of_unit = (
            np.flatnonzero(np.r_[sorted_units[1:] != sorted_units[:-1], True]) if len(order) else order
        )
        out = np.full(n, np.nan)
        out[sorted_units[last_of_unit]] = values[order[last_of_unit]]
    return np.where(count > 0, out, np.nan)


def _rule_fraction(metric: Metric, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of the points earned, met) for annual values v, by the table of SCORING.md §5."""
    t = metric.target
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric.direction == "min":
            met = v >= t - SLACK
            if metric.rule == "threshold":
                frac = np.zeros_like(v)
            elif metric.rule == "proportional":
                frac = np.minimum(1.0, np.maximum(0.0, v) / t)
            else:
                f = metric.floor if metric.floor is not None else t
                frac = np.clip((v - f) / (t - f), 0.0, 1.0)
        else:
            met = v <= t + SLACK
            if metric.rule == "threshold":
                frac = np.zeros_like(v)
            elif metric.rule == "proportional":
                frac = np.where(v <= 0, 1.0, np.minimum(1.0, t / v))
            else:
                f = metric.floor if metric.floor is not None else t
                frac = np.clip((f - v) / (f - t), 0.0, 1.0)
    # Meeting the target within the slack earns the full points, so met always means earned = max.
    return np.where(met, 1.0, frac), met


def _metrics(inputs: Inputs, scheme: Scheme, *, year: int) -> list[_MetricPart]:
    rd, n = inputs.readings, len(inputs.units)
    period_year, end = _period_bounds(rd.period)
    in_year = period_year == year
    parts: list[_MetricPart] = []
    for metric in scheme.metrics:
        applies = _applies(metric, inputs.units)
        rows = np.flatnonzero(in_year & (rd.metric == metric.id))
        rows = rows[applies[rd.unit[rows]]]
        status = np.full(n, _MISSING, dtype=np.int64)
        if metric.kind == "ratio":
            num, den = rd.numerator[rows], rd.denominator[rows]
            ok = np.isfinite(num) & np.isfinite(den)
            units = rd.unit[rows][ok]
            has = np.bincount(units, minlength=n) > 0
            sum_num = np.bincount(units, weights=num[ok], minlength=n)
            sum_den = np.bincount(units, weights=den[ok], minlength=n)
            status[has & (sum_den == 0)] = _NOT_APPLICABLE
            scored = has & (sum_den != 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(scored, sum_num / np.where(scored, sum_den, 1.0), np.nan)
        else:
            vals = rd.value[rows]
            ok = np.isfinite(vals)
            value = _aggregate(metric.aggregate, rd.unit[rows][ok], vals[ok], end[rows][ok], n)
            scored = ~np.isnan(value)
        frac, met = _rule_fraction(metric, value)
        status[scored] = np.where(met[scored], _MET, _BELOW)
        status[~applies] = _NOT_APPLICABLE
        earned = np.where(applies & scored, metric.points * frac, 0.0)
        maximum = np.where(applies & (status != _NOT_APPLICABLE), metric.points, 0.0)
        parts.append(_MetricPart(metric, applies, np.where(scored, value, np.nan), status, earned, maximum))
    return parts


def _in_year(days: np.ndarray, year: int) -> np.ndarray:
    d = days.astype(np.int64)
    return (d >= _day_number(date(year, 1, 1))) & (d <= _day_number(date(year, 12, 31)))


@dataclass(frozen=True)
class _ErrorPart:
    rows: np.ndarray
    nominal: np.ndarray
    points: np.ndarray
    tolerance: np.ndarray
    sum: np.ndarray
    applied: np.ndarray


def _errors(inputs: Inputs, scheme: Scheme, *, year: int, decisions: np.ndarray) -> _ErrorPart:
    er, n, rules = inputs.errors, len(inputs.units), scheme.errors
    rows = np.flatnonzero(_in_year(er.date, year))
    nominal = _lookup(
        er.severity[rows],
        rules.deductions,
        key="errors.deductions",
        noun="severity",
        record="error report",
        ids=er.id[rows],
    )
    units = er.unit[rows]
    tolerance = _match_tolerances(
        units, er.id[rows], _chosen_tolerances(inputs.tolerances, "error_report"), n
    )
    decision = np.where(
        tolerance >= 0, decisions[np.maximum(tolerance, 0)] if len(decisions) else 0, _NO_DECISION
    )
    points = np.where(
        er.voided[rows] | (decision == _EXEMPT),
        0.0,
        np.where(decision == _MITIGATE, nominal * rules.mitigation_factor, nominal),
    )
    total = np.bincount(units, weights=points, minlength=n)
    return _ErrorPart(rows, nominal, points, tolerance, total, np.minimum(rules.cap, total))


@dataclass(frozen=True)
class _RecordPart:
    rows: np.ndarray
    points: np.ndarray
    sum: np.ndarray
    applied: np.ndarray


def _incentives(inputs: Inputs, scheme: Scheme, *, year: int) -> _RecordPart:
    rec, n = inputs.incentives, len(inputs.units)
    rows = np.flatnonzero(_in_year(rec.date, year))
    points = _lookup(
        rec.level[rows],
        scheme.incentives.points,
        key="incentives.points",
        noun="level",
        record="incentive",
        ids=rec.id[rows],
    )
    total = np.bincount(rec.unit[rows], weights=points, minlength=n)
    return _RecordPart(rows, points, total, np.minimum(scheme.incentives.cap, total))


def _accountability(
    inputs: Inputs, scheme: Scheme, *, year: int
) -> tuple[_RecordPart, np.ndarray, np.ndarray]:
    """The deductions, each row's veto flag, and veto per unit."""
    rec, n, kinds = inputs.accountability, len(inputs.units), scheme.accountability.kinds
    rows = np.flatnonzero(_in_year(rec.date, year))
    kind = rec.kind[rows]
    points = _lookup(
        kind,
        {k: v.deduction for k, v in kinds.items()},
        key="accountability.kinds",
        noun="kind",
        record="accountability record",
        ids=rec.id[rows],
    )
    row_veto = np.zeros(len(rows), dtype=bool)
    for name, spec in kinds.items():
        if spec.veto:
            row_veto |= kind == name
    units = rec.unit[rows]
    total = np.bincount(units, weights=points, minlength=n)
    veto = np.bincount(units, weights=row_veto, minlength=n) > 0
    return _RecordPart(rows, points, total, np.minimum(scheme.accountability.cap, total)), row_veto, veto


def round_total(x: float) -> float:
    """Two decimals, half away from zero, on the shortest decimal that reads back as x."""
    return float(Decimal(repr(float(x))).quantize(_CENT, rounding=ROUND_HALF_UP)) + 0.0


def _round_totals(total: np.ndarray) -> np.ndarray:
    """round_total of each (non-negative) total; only totals within reach of a tie take the exact path."""
    scaled = total * 100.0
    out = np.floor(scaled + 0.5) / 100.0
    # Away from a tie, the float product cannot cross the .5 boundary, and k / 100 is correctly
    # rounded, so it is the same float as the decimal rounding gives.
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near).tolist():
        out[i] = round_total(float(total[i]))
    return out + 0.0


def _ranks_and_grades(
    units: UnitTable, veto: np.ndarray, total: np.ndarray, scheme: Scheme
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rank within category (vetoed units after the others), grade codes, and categories in first-seen order."""
    categories = list(dict.fromkeys(units.categories))
    category = np.fromiter((categories.index(c) for c in units.categories), dtype=np.int64, count=len(units))
    rank = np.zeros(len(units), dtype=np.int64)
    quota = np.zeros(len(units), dtype=np.int64)
    g = scheme.grades
    for c in range(len(categories)):
        members = np.flatnonzero(category == c)
        clean = members[~veto[members]]
        for group, offset in ((clean, 0), (members[veto[members]], len(clean))):
            descending = np.sort(-total[group])
            rank[group] = offset + np.searchsorted(descending, -total[group], "left") + 1
        # Decimal, so that a quota of 0.29 of 100 units is 29, not floor(28.999999999999996).
        quota[members] = max(
            1, int((Decimal(repr(g.excellent_quota)) * len(members)).to_integral_value(ROUND_FLOOR))
        )
    grade = np.where(
        veto,
        _POOR,
        np.where(
            (total >= g.excellent_min) & (rank <= quota),
            _EXCELLENT,
            np.where(total >= g.good_min, _GOOD, np.where(total >= g.pass_min, _FAIR, _POOR)),
        ),
    )
    return rank, grade, categories


def _calendar_warnings(year: int, cal: WorkCalendar) -> tuple[int, ...]:
    probe = WorkCalendar()
    probe.is_working_day(date(year, 1, 1))
    return tuple(sorted(probe.uncovered_years | cal.uncovered_years))


def score(inputs: Inputs, scheme: Scheme, *, year: int, as_of: datetime | None = None) -> Assessment:
    """Score every unit of inputs for year under scheme as of as_of (default Y-12-31 23:59:59 local; naive = local)."""
    tz = scheme.tz
    if as_of is None:
        as_of = datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
    elif as_of.tzinfo is None or as_of.utcoffset() is None:
        as_of = as_of.replace(tzinfo=tz)
    cutoff = _epoch_seconds(as_of)
    cal = scheme.calendar()
    decisions = _decision_codes(inputs.tolerances)

    tasks = _timeliness(inputs, scheme, cal, year=year, as_of=cutoff, decisions=decisions)
    metrics = _metrics(inputs, scheme, year=year)
    errors = _errors(inputs, scheme, year=year, decisions=decisions)
    incentives = _incentives(inputs, scheme, year=year)
    accountability, row_veto, veto = _accountability(inputs, scheme, year=year)

    n = len(inputs.units)
    metrics_earned, metrics_max = np.zeros(n), np.zeros(n)
    for part in metrics:
        metrics_earned = metrics_earned + part.earned
        metrics_max = metrics_max + part.max
    maximum = tasks.max + metrics_max
    nothing = maximum == 0
    base = np.where(nothing, 100.0, 100.0 * (tasks.earned + metrics_earned) / np.where(nothing, 1.0, maximum))
    total = np.maximum(0.0, base + incentives.applied - errors.applied - accountability.applied)
    rounded = _round_totals(total)
    rank, grade, categories = _ranks_and_grades(inputs.units, veto, rounded, scheme)
    position = {c: i for i, c in enumerate(categories)}
    category_position = np.fromiter((position[c] for c in inputs.units.categories), dtype=np.int64, count=n)
    id_order = np.argsort(np.asarray(inputs.units.ids, dtype=object), kind="stable")
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[id_order] = np.arange(n)
    order = np.lexsort((id_rank, rank, category_position)).tolist()

    return Assessment(
        units=inputs.units,
        year=year,
        scheme=scheme,
        as_of=as_of.astimezone(tz),
        calendar_warnings=_calendar_warnings(year, cal),
        timeliness_earned=tasks.earned,
        timeliness_max=tasks.max,
        metrics_earned=metrics_earned,
        metrics_max=metrics_max,
        base=base,
        bonus=incentives.applied,
        error_deduction=errors.applied,
        accountability_deduction=accountability.applied,
        veto=veto,
        total=total,
        total_rounded=rounded,
        rank=rank,
        grade=np.array([GRADES[g] for g in grade], dtype=object),
        nothing_assessed=nothing,
        order=np.asarray(order, dtype=np.int64),
        _detail=_Detail(inputs, tasks, metrics, errors, incentives, accountability, row_veto, tz),
    )


# --- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskColumns:
    """The counted task rows as Python lists, so that building a million breakdown lines stays cheap."""

    task: list[str]
    lead: list[bool]
    priority: list[str]
    weight: list[float]
    credit: list[float]
    late: list[int]
    tolerance: list[int]
    due: list[int]
    due_iso: list[str | None]
    reported_iso: list[str | None]


class _Detail:
    """Row-level parts kept for breakdowns, grouped by unit only when a breakdown is asked for."""

    def __init__(
        self,
        inputs: Inputs,
        tasks: _TaskPart,
        metrics: list[_MetricPart],
        errors: _ErrorPart,
        incentives: _RecordPart,
        accountability: _RecordPart,
        accountability_veto: np.ndarray,
        tz: tzinfo,
    ) -> None:
        self.tz = tz
        self.inputs = inputs
        self.tasks = tasks
        self.metrics = metrics
        self.errors = errors
        self.incentives = incentives
        self.accountability = accountability
        self.accountability_veto = accountability_veto

    @staticmethod
    def _group(units: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(units, kind="stable")
        bounds = np.searchsorted(units[order], np.arange(n + 1), "left")
        return order, bounds

    @cached_property
    def task_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.tasks.unit[self.tasks.rows], len(self.inputs.units))

    @cached_property
    def task_columns(self) -> _TaskColumns:
        part, tk, tz = self.tasks, self.inputs.tasks, self.tz
        return _TaskColumns(
            task=[str(x) for x in tk.task_id[part.rows]],
            lead=tk.is_lead[part.rows].tolist(),
            priority=tk.priorities(part.rows),
            weight=part.weight.tolist(),
            credit=part.credit.tolist(),
            late=part.late_days.tolist(),
            tolerance=part.tolerance.tolist(),
            due=tk.due_at[part.rows].tolist(),
            due_iso=_iso_many(tk.due_at[part.rows], tz),
            reported_iso=_iso_many(part.reported, tz),
        )

    @cached_property
    def error_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.errors.unit[self.errors.rows], len(self.inputs.units))

    @cached_property
    def incentive_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.incentives.unit[self.incentives.rows], len(self.inputs.units))

    @cached_property
    def accountability_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self._group(self.inputs.accountability.unit[self.accountability.rows], len(self.inputs.units))


def _of_unit(groups: tuple[np.ndarray, np.ndarray], code: int) -> np.ndarray:
    order, bounds = groups
    return order[bounds[code] : bounds[code + 1]]


def _number(x: Any) -> float | None:
    f = float(x)
    return None if np.isnan(f) else f


@dataclass(frozen=True, eq=False)
class Assessment:
    """Per-unit results of one scoring (arrays indexed by unit code), with their explanations."""

    units: UnitTable
    year: int
    scheme: Scheme
    as_of: datetime
    calendar_warnings: tuple[int, ...]
    timeliness_earned: np.ndarray
    timeliness_max: np.ndarray
    metrics_earned: np.ndarray
    metrics_max: np.ndarray
    base: np.ndarray
    bonus: np.ndarray
    error_deduction: np.ndarray
    accountability_deduction: np.ndarray
    veto: np.ndarray
    total: np.ndarray  # full precision
    total_rounded: np.ndarray  # what is reported, ranked and graded
    rank: np.ndarray
    grade: np.ndarray
    nothing_assessed: np.ndarray
    order: np.ndarray  # unit codes in report order: category (first seen), rank, id
    _detail: _Detail = field(repr=False)

    def document(self, *, include_breakdown: bool = True) -> dict[str, Any]:
        """The result document of FORMATS.md without run, state and scheme_sha256."""
        return {
            "year": self.year,
            "scheme": self.scheme.id,
            "as_of": self.as_of.isoformat(),
            "calendar_warnings": list(self.calendar_warnings),
            "units": [self._unit(int(i), include_breakdown) for i in self.order],
        }

    def unit_result(self, unit_id: str, *, include_breakdown: bool = True) -> dict[str, Any]:
        """One unit's entry of the result document."""
        return self._unit(self.units.code(unit_id), include_breakdown)

    def _unit(self, i: int, include_breakdown: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unit": self.units.ids[i],
            "name": self.units.names[i],
            "category": self.units.categories[i],
            "timeliness_earned": float(self.timeliness_earned[i]),
            "timeliness_max": float(self.timeliness_max[i]),
            "metrics_earned": float(self.metrics_earned[i]),
            "metrics_max": float(self.metrics_max[i]),
            "base": float(self.base[i]),
            "bonus": float(self.bonus[i]),
            "error_deduction": float(self.error_deduction[i]),
            "accountability_deduction": float(self.accountability_deduction[i]),
            "veto": bool(self.veto[i]),
            "total": float(self.total_rounded[i]),
            "rank": int(self.rank[i]),
            "grade": str(self.grade[i]),
            "nothing_assessed": bool(self.nothing_assessed[i]),
        }
        if include_breakdown:
            out["breakdown"] = self._breakdown(i)
        return out

    def breakdown(self, unit_id: str) -> dict[str, Any]:
        """Every point of one unit explained (SCORING.md §10); the parts add up to its totals."""
        return self._breakdown(self.units.code(unit_id))

    def _breakdown(self, i: int) -> dict[str, Any]:
        d = self._detail
        return {
            "tasks": self._task_lines(i),
            "metrics": [
                {
                    "metric": p.metric.id,
                    "name": p.metric.name,
                    "kind": p.metric.kind,
                    "rule": p.metric.rule,
                    "direction": p.metric.direction,
                    "value": _number(p.value[i]),
                    "target": p.metric.target,
                    "status": STATUSES[int(p.status[i])],
                    "earned": float(p.earned[i]),
                    "max": float(p.max[i]),
                }
                for p in d.metrics
                if p.applies[i]
            ],
            "errors": self._error_lines(i),
            "incentives": self._incentive_lines(i),
            "accountability": self._accountability_lines(i),
            "caps": {
                "errors": self._cap(d.errors.sum[i], self.scheme.errors.cap, self.error_deduction[i]),
                "incentives": self._cap(d.incentives.sum[i], self.scheme.incentives.cap, self.bonus[i]),
                "accountability": self._cap(
                    d.accountability.sum[i], self.scheme.accountability.cap, self.accountability_deduction[i]
                ),
            },
        }

    @staticmethod
    def _cap(total: float, cap: float, applied: float) -> dict[str, float]:
        return {"sum": float(total), "cap": float(cap), "applied": float(applied)}

    def _tolerance(self, row: int) -> dict[str, str] | None:
        if row < 0:
            return None
        tol = self._detail.inputs.tolerances
        return {"id": str(tol.id[row]), "decision": str(tol.decision[row])}

    def _task_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        col = d.task_columns
        sum_w = float(d.tasks.sum_w[i])
        points = self.scheme.timeliness.points
        ks = sorted(
            _of_unit(d.task_groups, i).tolist(), key=lambda k: (col.due[k], col.task[k], not col.lead[k])
        )
        return [
            {
                "task": col.task[k],
                "role": "lead" if col.lead[k] else "co",
                "priority": col.priority[k],
                "weight": col.weight[k],
                "due_at": col.due_iso[k],
                "reported_at": col.reported_iso[k],
                "late_working_days": None if col.late[k] < 0 else col.late[k],
                "credit": col.credit[k],
                "tolerance": self._tolerance(col.tolerance[k]),
                "points": points * (col.weight[k] * col.credit[k]) / sum_w,
            }
            for k in ks
        ]

    def _error_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, er = d.errors, d.inputs.errors
        lines = [
            {
                "id": str(er.id[row]),
                "date": _iso_day(er.date[row]),
                "category": str(er.category[row]),
                "severity": str(er.severity[row]),
                "voided": bool(er.voided[row]),
                "deduction": float(part.nominal[k]),
                "tolerance": self._tolerance(int(part.tolerance[k])),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.error_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))

    def _incentive_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, rec = d.incentives, d.inputs.incentives
        lines = [
            {
                "id": str(rec.id[row]),
                "date": _iso_day(rec.date[row]),
                "level": str(rec.level[row]),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.incentive_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))

    def _accountability_lines(self, i: int) -> list[dict[str, Any]]:
        d = self._detail
        part, rec = d.accountability, d.inputs.accountability
        lines = [
            {
                "id": str(rec.id[row]),
                "date": _iso_day(rec.date[row]),
                "kind": str(rec.kind[row]),
                "veto": bool(d.accountability_veto[k]),
                "points": float(part.points[k]),
            }
            for k in _of_unit(d.accountability_groups, i)
            for row in (int(part.rows[k]),)
        ]
        return sorted(lines, key=lambda line: (line["date"], line["id"]))
