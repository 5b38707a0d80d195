"""The scheme (考核方案) as frozen dataclasses: task types, metrics, the sections of points and the grades."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from zoneinfo import ZoneInfo

from services.common.calendar import WorkCalendar
from services.common.errors import NotFound
from services.common.holiday_notice import HolidayNotice
from services.common.limits import Limit

METRIC_KINDS = ("ratio", "value")
AGGREGATES = ("sum", "mean", "max", "min", "last")
DIRECTIONS = ("min", "max")
RULES = ("threshold", "proportional", "linear")

DEFAULT_TIMEZONE = "Asia/Shanghai"


class MetricNotFound(NotFound, KeyError):
    """The scheme has no metric of that id."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message reads better as written.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class TaskType:
    """A kind of task and its time limit (时限)."""

    id: str
    name: str
    limit: Limit
    progress_every: Limit | None
    # The hard cut-off (SCORING.md §2): a report after it earns nothing while the due is the computed one.
    latest: Limit | None = None


@dataclass(frozen=True)
class Metric:
    """An indicator (指标) with its rule, target and points."""

    id: str
    name: str
    kind: str
    aggregate: str | None
    direction: str
    rule: str
    target: float
    floor: float | None
    points: float
    applies_to: tuple[str, ...]

    def unit_target_problem(self, *, target: float, floor: float | None) -> tuple[str, str] | None:
        """(field, rule) broken by a unit's own target (and floor) for this metric, None when none is.

        A unit's floor applies to the linear rule only; without one, the metric's floor is the unit's.
        """
        if floor is not None and self.rule != "linear":
            return "floor", f'只用于 rule = "linear"；指标 {self.id} 是 "{self.rule}"'
        if self.rule == "proportional" and target <= 0:
            return "target", f'rule = "proportional" 时须大于 0，现为 {target:g}'
        if self.rule != "linear":
            return None
        if floor is not None:
            problem = floor_problem(floor=floor, target=target, direction=self.direction)
            return ("floor", problem) if problem else None
        metric_floor = self.floor if self.floor is not None else target
        if floor_problem(floor=metric_floor, target=target, direction=self.direction):
            side = "above" if self.direction == "min" else "below"
            return "target", (
                f'must lie {side} the metric\'s floor {metric_floor:g} (direction = "{self.direction}"), '
                f"got {target:g}; or give the unit's own floor"
            )
        return None


@dataclass(frozen=True)
class Timeliness:
    """Points and weights of 工作落实时效 (SCORING.md §4)."""

    points: float
    late_penalty_per_working_day: float
    yellow_threshold: float
    co_unit_weight: float
    priority_weights: Mapping[str, float]


@dataclass(frozen=True)
class ErrorReports:
    """差错通报 deductions by severity, their cap and the 容错 mitigation factor."""

    cap: float
    mitigation_factor: float
    deductions: Mapping[str, float]


@dataclass(frozen=True)
class Incentives:
    """激励 points by level and their cap."""

    cap: float
    points: Mapping[str, float]


@dataclass(frozen=True)
class AccountabilityKind:
    """One kind of 问责 record: its deduction and whether it vetoes (一票否决)."""

    deduction: float
    veto: bool


@dataclass(frozen=True)
class Accountability:
    """问责 kinds and the cap on their deductions."""

    cap: float
    kinds: Mapping[str, AccountabilityKind]


@dataclass(frozen=True)
class Grades:
    """Grade thresholds and the share of a category that may be excellent."""

    excellent_min: float
    excellent_quota: float
    good_min: float
    pass_min: float


@dataclass(frozen=True)
class BulletinHead:
    """Who issues the bulletin (发文机关) and the prefix of its 文号 (empty: no 文号)."""

    issuer: str = "考核办公室"
    doc_prefix: str = ""


@dataclass(frozen=True)
class Scheme:
    """A validated scheme, with its exact text and that text's SHA-256."""

    id: str
    name: str
    year: int
    timezone: str
    extra_holidays: tuple[date, ...]
    extra_workdays: tuple[date, ...]
    task_types: Mapping[str, TaskType]
    timeliness: Timeliness
    metrics: tuple[Metric, ...]
    error_reports: ErrorReports
    incentives: Incentives
    accountability: Accountability
    grades: Grades
    appeal_window_working_days: int
    text: str
    sha256: str
    jurisdiction: str = ""
    bulletin: BulletinHead = BulletinHead()
    # The holiday notices imported into the ledger (kaohe calendar import), by year: no part of the
    # text, added by the service that reads them (with_notices).
    notices: Mapping[int, HolidayNotice] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        # The text determines everything else, and the mappings inside are not hashable.
        return hash(self.sha256)

    @property
    def tz(self) -> ZoneInfo:
        """The scheme's time zone."""
        return ZoneInfo(self.timezone)

    def calendar(self) -> WorkCalendar:
        """A new working-day calendar with this scheme's extra holidays and workdays."""
        return WorkCalendar(
            extra_holidays=self.extra_holidays, extra_workdays=self.extra_workdays, notices=self.notices
        )

    def with_notices(self, notices: Mapping[int, HolidayNotice]) -> Scheme:
        """This scheme under the holiday notices imported into the ledger."""
        return replace(self, notices=MappingProxyType(dict(notices)))

    def metric(self, id: str) -> Metric:
        """The metric of that id; MetricNotFound (a NotFound and a KeyError) when there is none."""
        for m in self.metrics:
            if m.id == id:
                return m
        raise MetricNotFound(f"考核方案“{self.id}”中没有指标“{id}”")


def floor_problem(*, floor: float, target: float, direction: str) -> str | None:
    """What is wrong with a linear rule's floor against its target, None when nothing is."""
    if floor == target:
        return "须与 target 不同（否则线性计分的区间宽度为零）"
    if direction == "min" and floor > target:
        return f'direction = "min"（越高越好）时须低于 target，现为 {floor:g} > {target:g}'
    if direction == "max" and floor < target:
        return f'direction = "max"（越低越好）时须高于 target，现为 {floor:g} < {target:g}'
    return None
