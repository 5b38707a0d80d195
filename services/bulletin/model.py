"""The figures of a supervision bulletin (督查通报), computed from tasks and records: pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import TypeVar

from services.bulletin.period import Period
from services.common import vocabulary
from services.common.calendar import WorkCalendar
from services.common.errors import FieldViolation, InvalidArgument

__all__ = [
    "ACCOUNTABILITY_KIND_LABELS",
    "ERROR_CATEGORY_LABELS",
    "LEVEL_LABELS",
    "SEVERITY_LABELS",
    "Accountability",
    "AccountabilityLine",
    "Bulletin",
    "ErrorLine",
    "ErrorReport",
    "Extension",
    "ExtensionLine",
    "Incentive",
    "IncentiveLine",
    "OverdueLine",
    "Tally",
    "Task",
    "Unit",
    "UnitLine",
    "build_bulletin",
]

# The one vocabulary's labels; an accountability kind a scheme adds shows under its key.
SEVERITY_LABELS = vocabulary.SEVERITIES
ERROR_CATEGORY_LABELS = vocabulary.ERROR_CATEGORIES
LEVEL_LABELS = vocabulary.INCENTIVE_LEVELS
ACCOUNTABILITY_KIND_LABELS = vocabulary.ACCOUNTABILITY_KINDS
_STANDINGS = ("on_time", "late", "overdue", "pending")


# --- what the bulletin is built from ---------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """An assessed unit (a department or a township)."""

    id: str
    name: str
    category: str


@dataclass(frozen=True)
class Task:
    """A supervised task as the ledger stands: reported_at is the report that counts, if any."""

    id: str
    title: str
    lead_unit: str
    co_units: tuple[str, ...]
    due_at: datetime
    reported_at: datetime | None
    state: str
    cancelled: bool = False


@dataclass(frozen=True)
class ErrorReport:
    """An error notice (差错通报); a voided one (appeal upheld, or withdrawn) is left out."""

    id: str
    unit: str
    date: date
    category: str
    severity: str
    description: str
    voided: bool = False


@dataclass(frozen=True)
class Accountability:
    """An accountability record (问责); kind is the scheme's key (interview, admonishment …)."""

    id: str
    unit: str
    date: date
    kind: str
    reason: str
    voided: bool = False


@dataclass(frozen=True)
class Incentive:
    """An incentive (激励) a unit earned, at a level (national … county)."""

    id: str
    unit: str
    date: date
    level: str
    reason: str
    voided: bool = False


@dataclass(frozen=True)
class Extension:
    """An extension request (延期申请): the due asked for and, once decided, the office's answer."""

    id: str
    task: str
    title: str
    unit: str
    filed_at: datetime
    due_before: datetime
    asked_due: datetime
    state: str
    granted_due: datetime | None = None


# --- what the bulletin says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Tasks due in the period, by how they stand at as_of; pending ones are not yet due."""

    due: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0

    @property
    def settled(self) -> int:
        """The tasks whose timeliness is known: reported, or past due without a report."""
        return self.on_time + self.late + self.overdue

    @property
    def rate(self) -> float | None:
        """On time over settled (0–1); None while nothing is settled."""
        return self.on_time / self.settled if self.settled else None

    def plus(self, other: Tally) -> Tally:
        """The sum of two tallies."""
        return Tally(
            due=self.due + other.due,
            on_time=self.on_time + other.on_time,
            late=self.late + other.late,
            overdue=self.overdue + other.overdue,
            pending=self.pending + other.pending,
        )


@dataclass(frozen=True)
class UnitLine:
    """One unit's row of the table: its tasks as lead unit."""

    unit: str
    name: str
    tally: Tally


@dataclass(frozen=True)
class OverdueLine:
    """A task past due without a report; due_at in the bulletin's zone, days rounded up."""

    task: str
    title: str
    lead_unit: str
    lead_name: str
    due_at: datetime
    days_overdue: int


@dataclass(frozen=True)
class ErrorLine:
    """An error notice of the period, with its labels."""

    id: str
    unit: str
    unit_name: str
    date: date
    category: str
    category_label: str
    severity: str
    severity_label: str
    description: str


@dataclass(frozen=True)
class AccountabilityLine:
    """An accountability record of the period, with its label."""

    id: str
    unit: str
    unit_name: str
    date: date
    kind: str
    kind_label: str
    reason: str


@dataclass(frozen=True)
class IncentiveLine:
    """An incentive of the period, with its label."""

    id: str
    unit: str
    unit_name: str
    date: date
    level: str
    level_label: str
    reason: str


@dataclass(frozen=True)
class ExtensionLine:
    """An extension request filed in the period: task, unit, the due asked for, the decision."""

    id: str
    task: str
    title: str
    unit: str
    unit_name: str
    filed_at: datetime
    due_before: datetime
    asked_due: datetime
    state: str
    state_label: str
    granted_due: datetime | None


@dataclass(frozen=True)
class Bulletin:
    """Everything a 督查通报 states, in the order and sorting it states it."""

    period: Period
    as_of: datetime
    issuer: str
    total: Tally
    units: tuple[UnitLine, ...]
    overdue: tuple[OverdueLine, ...]
    errors: tuple[ErrorLine, ...]
    accountability: tuple[AccountabilityLine, ...]
    incentives: tuple[IncentiveLine, ...]
    exemplary: tuple[UnitLine, ...]
    extensions: tuple[ExtensionLine, ...] = field(default=())
    copy_to: tuple[str, ...] = field(default=())
    jurisdiction: str = ""
    issue: int | None = None
    doc_prefix: str = ""

    @property
    def signer(self) -> str:
        """The 发文机关 as signed: the issuer after the county's name (宁强县考核办公室) unless it has it."""
        if not self.jurisdiction or self.issuer.startswith(self.jurisdiction):
            return self.issuer
        return f"{self.jurisdiction}{self.issuer}"

    @property
    def interim(self) -> bool:
        """The period is not over at as_of (期中): what it states may still change."""
        return self.as_of.date() < self.period.end

    @property
    def doc_number(self) -> str:
        """The 文号 (发文字号), e.g. 宁政办督〔2026〕3号, when there is a doc_prefix and an issue number."""
        if not self.doc_prefix or self.issue is None:
            return ""
        return f"{self.doc_prefix}〔{self.as_of.year}〕{self.issue}号"

    @property
    def red_units(self) -> tuple[UnitLine, ...]:
        """The units with tasks still overdue, most first (they head the table)."""
        return tuple(line for line in self.units if line.tally.overdue)


# --- the rules -------------------------------------------------------------------------------------


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidArgument(FieldViolation(name, f"must carry a time zone offset ({moment.isoformat()})"))


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


_Record = TypeVar("_Record", ErrorReport, Accountability, Incentive)


def _in_period(records: Iterable[_Record], period: Period) -> list[_Record]:
    """The standing records dated within the period, by date then id."""
    kept = [r for r in records if not r.voided and period.contains(r.date)]
    return sorted(kept, key=lambda r: (r.date, r.id))


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
    working = calendar or WorkCalendar()
    names = {unit.id: unit.name for unit in units}
    kinds = {**ACCOUNTABILITY_KIND_LABELS, **(kind_labels or {})}

    def name(unit: str) -> str:
        return names.get(unit, unit)

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
            overdue.append((task, _days_overdue(task, as_of=as_of, tz=tz, calendar=working)))

    lines = sorted(
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
    total = Tally()
    for line in lines:
        total = total.plus(line.tally)
    exemplary = tuple(
        sorted(
            (line for line in lines if line.tally.on_time == line.tally.due),
            key=lambda line: line.unit,
        )
    )
    overdue.sort(key=lambda pair: (pair[0].due_at, pair[0].id))

    error_lines = tuple(
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
    accountability_lines = tuple(
        AccountabilityLine(
            id=r.id,
            unit=r.unit,
            unit_name=name(r.unit),
            date=r.date,
            kind=r.kind,
            kind_label=kinds.get(r.kind, r.kind),
            reason=r.reason,
        )
        for r in _in_period(accountability, period)
    )
    incentive_lines = tuple(
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
    return Bulletin(
        period=period,
        as_of=as_of.astimezone(tz),
        issuer=issuer,
        total=total,
        units=tuple(lines),
        overdue=tuple(
            OverdueLine(
                task=task.id,
                title=task.title,
                lead_unit=task.lead_unit,
                lead_name=name(task.lead_unit),
                due_at=task.due_at.astimezone(tz),
                days_overdue=days,
            )
            for task, days in overdue
        ),
        errors=error_lines,
        accountability=accountability_lines,
        incentives=incentive_lines,
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
