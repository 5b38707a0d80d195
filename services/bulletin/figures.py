"""How a bulletin's figures are counted from tasks and records as they stand at an instant: pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TypeVar

from services.bulletin.model import (
    ACCOUNTABILITY_KIND_LABELS,
    ERROR_CATEGORY_LABELS,
    LEVEL_LABELS,
    SEVERITY_LABELS,
    Accountability,
    AccountabilityLine,
    Bulletin,
    ErrorLine,
    ErrorReport,
    Extension,
    ExtensionLine,
    Incentive,
    IncentiveLine,
    OverdueLine,
    Tally,
    Task,
    Unit,
    UnitLine,
)
from services.bulletin.period import Period
from services.common import vocabulary
from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, InvalidArgument

__all__ = ["build_bulletin", "extension_lines"]

_STANDINGS = ("on_time", "late", "overdue", "pending")
_Record = TypeVar("_Record", ErrorReport, Accountability, Incentive)
_Names = Callable[[str], str]


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidArgument(FieldViolation(name, f"须带时区（如 +08:00）：{moment.isoformat()}"))


def _standing(task: Task, *, as_of: datetime) -> str:
    """on_time, late, overdue or pending, as the task stands at as_of."""
    reported = task.reported_at
    if reported is not None and reported <= as_of:
        return "on_time" if reported <= task.due_at else "late"
    return "overdue" if task.due_at < as_of else "pending"


def _days_overdue(task: Task, *, as_of: datetime, tz: tzinfo, calendar: WorkCalendar) -> int:
    """Working days past due as scoring counts them (SCORING.md: max(1, working_days_between)).

    Dates are local: a task due Friday and still open on Monday is 1 working day overdue, and a task
    an hour late is 1.
    """
    days = calendar.working_days_between(task.due_at.astimezone(tz).date(), as_of.astimezone(tz).date())
    return max(1, days)


def _in_period(records: Iterable[_Record], period: Period) -> list[_Record]:
    """The standing records dated within the period, by date then id."""
    kept = [r for r in records if not r.voided and period.contains(r.date)]
    return sorted(kept, key=lambda r: (r.date, r.id))


def _count_tasks(
    tasks: Iterable[Task], *, period: Period, as_of: datetime, tz: tzinfo, calendar: WorkCalendar
) -> tuple[Counter[tuple[str, str]], list[tuple[Task, int]]]:
    """Each lead unit's tasks due in the period by standing, and the overdue ones with their days overdue."""
    counts: Counter[tuple[str, str]] = Counter()
    overdue: list[tuple[Task, int]] = []
    for index, task in enumerate(tasks):
        _aware(task.due_at, f"tasks[{index}].due_at")
        if task.reported_at is not None:
            _aware(task.reported_at, f"tasks[{index}].reported_at")
        if task.cancelled or task.state == "cancelled":
            continue
        if not period.contains(task.due_at.astimezone(tz).date()):
            continue
        standing = _standing(task, as_of=as_of)
        counts[task.lead_unit, standing] += 1
        if standing == "overdue":
            overdue.append((task, _days_overdue(task, as_of=as_of, tz=tz, calendar=calendar)))
    overdue.sort(key=lambda pair: (pair[0].due_at, pair[0].id))
    return counts, overdue


def _unit_lines(counts: Counter[tuple[str, str]], name: _Names) -> list[UnitLine]:
    """One line per lead unit with tasks due, most overdue first."""
    return sorted(
        (
            UnitLine(
                unit=unit,
                name=name(unit),
                tally=Tally(
                    due=sum(counts[unit, standing] for standing in _STANDINGS),
                    on_time=counts[unit, "on_time"],
                    late=counts[unit, "late"],
                    overdue=counts[unit, "overdue"],
                    pending=counts[unit, "pending"],
                ),
            )
            for unit in {unit for unit, _ in counts}
        ),
        key=lambda line: (-line.tally.overdue, line.unit),
    )


def _overdue_lines(
    overdue: Iterable[tuple[Task, int]], *, tz: tzinfo, name: _Names
) -> tuple[OverdueLine, ...]:
    return tuple(
        OverdueLine(
            task=task.id,
            title=task.title,
            lead_unit=task.lead_unit,
            lead_name=name(task.lead_unit),
            due_at=task.due_at.astimezone(tz),
            days_overdue=days,
        )
        for task, days in overdue
    )


def _error_lines(errors: Iterable[ErrorReport], *, period: Period, name: _Names) -> tuple[ErrorLine, ...]:
    return tuple(
        ErrorLine(
            id=r.id,
            unit=r.unit,
            unit_name=name(r.unit),
            date=r.date,
            category=r.category,
            category_label=ERROR_CATEGORY_LABELS.get(r.category, r.category),
            severity=r.severity,
            severity_label=SEVERITY_LABELS.get(r.severity, r.severity),
            description=r.description,
        )
        for r in _in_period(errors, period)
    )


def _accountability_lines(
    records: Iterable[Accountability], *, period: Period, name: _Names, kinds: Mapping[str, str]
) -> tuple[AccountabilityLine, ...]:
    return tuple(
        AccountabilityLine(
            id=r.id,
            unit=r.unit,
            unit_name=name(r.unit),
            date=r.date,
            kind=r.kind,
            kind_label=kinds.get(r.kind, r.kind),
            reason=r.reason,
        )
        for r in _in_period(records, period)
    )


def _incentive_lines(
    incentives: Iterable[Incentive], *, period: Period, name: _Names
) -> tuple[IncentiveLine, ...]:
    return tuple(
        IncentiveLine(
            id=r.id,
            unit=r.unit,
            unit_name=name(r.unit),
            date=r.date,
            level=r.level,
            level_label=LEVEL_LABELS.get(r.level, r.level),
            reason=r.reason,
        )
        for r in _in_period(incentives, period)
    )


def build_bulletin(
    *,
    period: Period,
    as_of: datetime,
    units: Sequence[Unit],
    tasks: Iterable[Task],
    errors: Iterable[ErrorReport],
    accountability: Iterable[Accountability],
    incentives: Iterable[Incentive],
    tz: tzinfo,
    extensions: Iterable[Extension] = (),
    issuer: str = "考核办公室",
    copy_to: Sequence[str] = (),
    kind_labels: Mapping[str, str] | None = None,
    calendar: WorkCalendar | None = None,
    jurisdiction: str = "",
    issue: int | None = None,
    doc_prefix: str = "",
) -> Bulletin:
    """The bulletin of a period as tasks and records stand at as_of; tasks count for their lead unit only.

    calendar: the scheme's working days, for days overdue (the statutory calendar when None).
    """
    _aware(as_of, "as_of")
    names = {unit.id: unit.name for unit in units}
    kinds = {**ACCOUNTABILITY_KIND_LABELS, **(kind_labels or {})}

    def name(unit: str) -> str:
        return names.get(unit, unit)

    counts, overdue = _count_tasks(
        tasks, period=period, as_of=as_of, tz=tz, calendar=calendar or WorkCalendar()
    )
    lines = _unit_lines(counts, name)
    total = Tally()
    for line in lines:
        total = total.plus(line.tally)
    exemplary = tuple(
        sorted((line for line in lines if line.tally.on_time == line.tally.due), key=lambda line: line.unit)
    )
    return Bulletin(
        period=period,
        as_of=as_of.astimezone(tz),
        issuer=issuer,
        total=total,
        units=tuple(lines),
        overdue=_overdue_lines(overdue, tz=tz, name=name),
        errors=_error_lines(errors, period=period, name=name),
        accountability=_accountability_lines(accountability, period=period, name=name, kinds=kinds),
        incentives=_incentive_lines(incentives, period=period, name=name),
        extensions=extension_lines(extensions, period=period, tz=tz, names=names),
        exemplary=exemplary,
        copy_to=tuple(copy_to),
        jurisdiction=jurisdiction,
        issue=issue,
        doc_prefix=doc_prefix,
    )


def extension_lines(
    extensions: Iterable[Extension], *, period: Period, tz: tzinfo, names: Mapping[str, str]
) -> tuple[ExtensionLine, ...]:
    """The requests filed within the period (local dates), by filing instant then id."""
    lines = []
    for index, e in enumerate(extensions):
        for name in ("filed_at", "due_before", "asked_due"):
            _aware(getattr(e, name), f"extensions[{index}].{name}")
        if not period.contains(e.filed_at.astimezone(tz).date()):
            continue
        lines.append(
            ExtensionLine(
                id=e.id,
                task=e.task,
                title=e.title,
                unit=e.unit,
                unit_name=names.get(e.unit, e.unit),
                filed_at=e.filed_at.astimezone(tz),
                due_before=e.due_before.astimezone(tz),
                asked_due=e.asked_due.astimezone(tz),
                state=e.state,
                state_label=vocabulary.EXTENSION_STATES.get(e.state, e.state),
                granted_due=e.granted_due.astimezone(tz) if e.granted_due is not None else None,
            )
        )
    return tuple(sorted(lines, key=lambda line: (line.filed_at, line.id)))
