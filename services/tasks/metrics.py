"""Gauges of the ledger, computed when Prometheus scrapes (cached briefly)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.tasks.facts import UnitSummary
from services.tasks.holidays import covered
from services.tasks.reminders import open_task_facts
from services.tasks.use_cases import MAX_PAGE, TasksApp

Unit = tuple[str, str, str]


class LedgerCollector(Collector):
    """Open tasks by unit and colour, overdue, progress lapses, late (emergency) reports, the units' names."""

    def __init__(self, app: TasksApp, *, ttl_seconds: float = 10.0) -> None:
        self.app = app
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[UnitSummary], list[Unit], Counter[str]] = (0.0, [], [], Counter())

    def _units(self) -> list[Unit]:
        units: list[Unit] = []
        token = ""
        while True:
            page, token = self.app.list_units(category="", page_size_=MAX_PAGE, page_token=token)
            units.extend(page)
            if not token:
                return units

    def _progress_overdue(self) -> Counter[str]:
        """Per unit (lead or co-unit), the open tasks past a progress deadline with no report since."""
        lapses: Counter[str] = Counter()
        for fact in open_task_facts(self.app, now=datetime.now(UTC)):
            if fact.event == "progress_due":
                lapses.update(dict.fromkeys((fact.lead_unit, *fact.co_units), 1))
        return lapses

    def _read(self) -> tuple[list[UnitSummary], list[Unit], Counter[str]]:
        with self._lock:
            stamp, summaries, units, lapses = self._cached
            if time.monotonic() - stamp > self.ttl:
                summaries, _ = self.app.facts.summarize(year=0, as_of="")
                units = self._units()
                lapses = self._progress_overdue()
                self._cached = (time.monotonic(), summaries, units, lapses)
            return summaries, units, lapses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summaries, units, lapses = self._read()
        open_tasks = GaugeMetricFamily(
            "kaohe_tasks_open", "Open tasks (not yet reported) by unit and colour.", labels=["unit", "color"]
        )
        overdue = GaugeMetricFamily(
            "kaohe_tasks_overdue", "Open tasks past their due instant.", labels=["unit"]
        )
        late = GaugeMetricFamily(
            "kaohe_tasks_reported_late",
            "This year's tasks reported after their due instant.",
            labels=["unit", "task_type"],
        )
        emergency = GaugeMetricFamily(
            "kaohe_emergency_tasks_late",
            "Tasks with a limit in minutes or hours, due in the last 24 hours, reported late or not at all.",
            labels=["unit"],
        )
        # Alert summaries and dashboards join on it to show 财政局 rather than czj.
        info = GaugeMetricFamily(
            "kaohe_unit_info", "Each unit's name and category (value 1).", labels=["unit", "name", "category"]
        )
        for s in summaries:
            for colour, value in (("blue", s.open_blue), ("yellow", s.open_yellow), ("red", s.open_red)):
                open_tasks.add_metric([s.unit, colour], value)
            overdue.add_metric([s.unit], s.overdue)
            emergency.add_metric([s.unit], s.emergency_late)
            for task_type, count in sorted(s.late_by_type.items()):
                late.add_metric([s.unit, task_type], count)
        progress = GaugeMetricFamily(
            "kaohe_tasks_progress_overdue",
            "Open tasks past a progress deadline (progress_every) with no progress report since.",
            labels=["unit"],
        )
        for unit, name, category in units:
            info.add_metric([unit, name, category], 1)
            progress.add_metric([unit], lapses.get(unit, 0))
        yield from (open_tasks, overdue, late, emergency, info, progress)


class CalendarCollector(Collector):
    """Whether a holiday notice or the statutory calendar covers this year and, from 1 November (local
    time, when the State Council's notice for it is due), the next one."""

    def __init__(self, app: TasksApp, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        today = self.clock().astimezone(self.app.tz).date()
        gauge = GaugeMetricFamily(
            "kaohe_calendar_covered",
            "1 when an imported holiday notice or the statutory calendar decides the year's working days, "
            "0 when only Monday to Friday (and the scheme's own dates) do: this year, and from 1 November "
            "the next.",
            labels=["year", "when"],
        )
        calendar = self.app.calendar
        years = [(today.year, "this")] + ([(today.year + 1, "next")] if today.month >= 11 else [])
        for year, when in years:
            gauge.add_metric([str(year), when], 1 if covered(calendar, year) else 0)
        yield gauge
