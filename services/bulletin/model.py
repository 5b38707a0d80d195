"""What a supervision bulletin (督查通报) is built from and what it holds: records, lines, tallies; pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from services.bulletin.period import Period
from services.common import vocabulary

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
]

# The one vocabulary's labels; an accountability kind a scheme adds shows under its key.
SEVERITY_LABELS = vocabulary.SEVERITIES
ERROR_CATEGORY_LABELS = vocabulary.ERROR_CATEGORIES
LEVEL_LABELS = vocabulary.INCENTIVE_LEVELS
ACCOUNTABILITY_KIND_LABELS = vocabulary.ACCOUNTABILITY_KINDS


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
