"""The kernel's inputs: the assessed units and one table of numpy columns per kind of row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar, Self

import numpy as np

from services.common.errors import InvalidArgument
from services.common.timeutil import NO_TIME as _NO_TIME
from services.scoring.task_ids import TaskIds

__all__ = [
    "AccountabilityRows",
    "Columns",
    "ErrorRows",
    "IncentiveRows",
    "Inputs",
    "ReadingRows",
    "TargetRows",
    "TaskRows",
    "ToleranceRows",
    "UnitTable",
    "factorize",
    "period_bounds",
]


def _objects(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=object)
    if a.ndim != 1:
        # np.asarray turns a list of equal-length tuples into a 2-D array; a column is 1-D.
        out = np.empty(len(a), dtype=object)
        out[:] = list(x)
        return out
    return a


def _task_ids(x: Any) -> TaskIds:
    return x if isinstance(x, TaskIds) else TaskIds.of(str(v) for v in _objects(x).tolist())


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
    return a.astype(np.int32, copy=False) if a.dtype.kind in "iu" else _objects(x)


def factorize(values: Iterable[Any]) -> tuple[np.ndarray, list[Any]]:
    """(codes, distinct values in order of first appearance), encoded in C by mapping over a dict."""
    index: defaultdict[Any, int] = defaultdict(int)
    index.default_factory = index.__len__
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64)
    return codes, list(index)


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
            raise InvalidArgument("unit", f"未知单位“{unit_id}”") from None

    def codes(self, unit_ids: Iterable[str]) -> np.ndarray:
        """Codes of many unit ids, as an int64 array."""
        return np.fromiter((self.code(u) for u in unit_ids), dtype=np.int64)


@dataclass(frozen=True)
class Columns:
    """A frozen table of 1-D numpy columns of one length; COLUMNS gives each column's conversion."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray | TaskIds]]] = {}

    def __post_init__(self) -> None:
        length: int | None = None
        for name, convert in self.COLUMNS.items():
            a = convert(getattr(self, name))
            if isinstance(a, np.ndarray) and a.ndim != 1:
                raise ValueError(f"{type(self).__name__}.{name} must be one-dimensional")
            if length is None:
                length = len(a)
            elif len(a) != length:
                raise ValueError(f"{type(self).__name__}.{name} has {len(a)} rows, the others {length}")
            object.__setattr__(self, name, a)

    def __len__(self) -> int:
        return len(getattr(self, next(iter(self.COLUMNS))))

    @classmethod
    def empty(cls) -> Self:
        """No rows."""
        return cls(**{f.name: np.zeros(0, dtype=object) for f in fields(cls) if f.name in cls.COLUMNS})


@dataclass(frozen=True)
class TaskRows(Columns):
    """One row per (task, involved unit): the lead row and one per co-unit; instants in epoch seconds.

    `task_id` is TaskIds (integer codes into one UTF-8 buffer; given as strings, it is made so), and
    `priority` either the priority names or integer codes into `priority_names`: how the service holds a
    province's ten million rows without a Python string per row.
    """

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray | TaskIds]]] = {
        "task_id": _task_ids,
        "unit": _int64,
        "is_lead": _bools,
        "priority": _priority_codes,
        "assigned_at": _int64,
        "due_at": _int64,
        "reported_at": _int64,
        "cancelled_at": _int64,
    }

    task_id: TaskIds
    unit: np.ndarray
    is_lead: np.ndarray
    priority: np.ndarray
    assigned_at: np.ndarray
    due_at: np.ndarray
    reported_at: np.ndarray
    cancelled_at: np.ndarray
    priority_names: tuple[str, ...] = ()
    # Per row: the `latest` cut-off (NO_TIME: none, SCORING.md §2), whether the due in force is an
    # extension's (延期), whether the report that counts is verified (核查). Absent: none of them.
    latest_at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    extended: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    verified: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.task_id)
        for name, fill in (("latest_at", _NO_TIME), ("extended", False), ("verified", False)):
            given = np.asarray(getattr(self, name), dtype=np.int64 if name == "latest_at" else bool)
            if len(given) == 0 and n:
                given = np.full(n, fill, dtype=given.dtype)
            if len(given) != n:
                raise ValueError(f"TaskRows.{name} has {len(given)} rows, the others {n}")
            object.__setattr__(self, name, given)
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

    def priorities(self, rows: np.ndarray) -> list[str]:
        """The priority name of each of rows."""
        names = self.priority_names
        return [names[c] for c in self.priority[rows].tolist()]


@dataclass(frozen=True)
class ErrorRows(Columns):
    """差错通报 records; voided when an appeal was upheld or the office voided it."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "id": _objects,
        "unit": _int64,
        "date": _days,
        "category": _objects,
        "severity": _objects,
        "voided": _bools,
    }

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    category: np.ndarray
    severity: np.ndarray
    voided: np.ndarray


@dataclass(frozen=True)
class ReadingRows(Columns):
    """Indicator readings in record order; value or numerator/denominator, nan when absent."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "unit": _int64,
        "metric": _objects,
        "period": _objects,
        "value": _float64,
        "numerator": _float64,
        "denominator": _float64,
    }

    unit: np.ndarray
    metric: np.ndarray
    period: np.ndarray
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each reading's period's year and end day (days since 1970-01-01)."""
        return period_bounds(self.period)


@dataclass(frozen=True)
class IncentiveRows(Columns):
    """激励 records."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "id": _objects,
        "unit": _int64,
        "date": _days,
        "level": _objects,
    }

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    level: np.ndarray


@dataclass(frozen=True)
class ToleranceRows(Columns):
    """容错纠错 decisions in record order: target_type task or error_report, decision exempt or mitigate."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "id": _objects,
        "unit": _int64,
        "target_type": _objects,
        "target": _objects,
        "decision": _objects,
        "date": _days,
    }

    id: np.ndarray
    unit: np.ndarray
    target_type: np.ndarray
    target: np.ndarray
    decision: np.ndarray
    date: np.ndarray


@dataclass(frozen=True)
class AccountabilityRows(Columns):
    """问责 records; voided when an appeal on it was upheld."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "id": _objects,
        "unit": _int64,
        "date": _days,
        "kind": _objects,
        "voided": _bools,
    }

    id: np.ndarray
    unit: np.ndarray
    date: np.ndarray
    kind: np.ndarray
    voided: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        # Without a voided column (callers that have no appeals), no record is voided.
        if len(self.voided) == 0:
            object.__setattr__(self, "voided", np.zeros(len(_objects(self.id)), dtype=bool))
        super().__post_init__()


@dataclass(frozen=True)
class TargetRows(Columns):
    """Units' own annual targets (目标责任书): per (unit, metric, year) a target, and a floor (nan: none)."""

    COLUMNS: ClassVar[Mapping[str, Callable[[Any], np.ndarray]]] = {
        "unit": _int64,
        "metric": _objects,
        "year": _int64,
        "target": _float64,
        "floor": _float64,
    }

    unit: np.ndarray
    metric: np.ndarray
    year: np.ndarray
    target: np.ndarray
    floor: np.ndarray


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
    targets: TargetRows = field(default_factory=TargetRows.empty)

    def __post_init__(self) -> None:
        n = len(self.units)
        for name in ("tasks", "errors", "readings", "incentives", "tolerances", "accountability", "targets"):
            codes = getattr(self, name).unit
            if len(codes) and (codes.min() < 0 or codes.max() >= n):
                raise ValueError(f"Inputs.{name}.unit holds a code outside 0..{n - 1}")


def period_bounds(period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        "readings.period", f"“{text[bad][0]}”不是期间，期间写作 YYYY、YYYY-MM 或 YYYY-MM-DD"
    )
