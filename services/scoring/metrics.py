"""Scoring metrics: indicators against their targets (computed at scrape), runs and their duration."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.scheme import Metric
from services.scoring.inputs import default_as_of
from services.scoring.use_cases import ScoringApp

log = logging.getLogger("kaohe.scoring.metrics")


class RunMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "kaohe_assessment_runs",
            "Assessment runs by the state they entered.",
            ["state"],
            registry=registry,
        )
        self.duration = Histogram(
            "kaohe_assessment_run_duration_seconds",
            "Time to compute an assessment run.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )

    def observe(self, state: str, seconds: float) -> None:
        self.runs.labels(state).inc()
        if state == "draft":
            self.duration.observe(seconds)


def target_due(metric: Metric, *, year: int, today: date, target: float | None = None) -> float:
    """The target a unit should have reached by today: pro-rated for cumulative "at least" indicators.

    A total summed over the year (调研天数: 60 a year) only reaches the annual target in December;
    compared with the full target it would be "below target" all year, for every unit, and the
    alert would say nothing. Against the share due by now it flags the units falling behind. The
    share counts whole months, because readings are reported per month after it ends: January
    expects nothing, February one twelfth, and once the year is over the full target. A ceiling
    on a total (direction "max") is not pro-rated: the total only grows, so it is broken exactly
    when it passes the annual ceiling, and warning earlier for a fast start would be noise.
    target is a unit's own annual target (目标责任书) when it has one; the scheme's otherwise.
    """
    annual = metric.target if target is None else target
    if metric.kind != "value" or metric.aggregate != "sum" or metric.direction != "min":
        return annual
    months_complete = min(max((today.year - year) * 12 + today.month - 1, 0), 12)
    return annual * months_complete / 12


@dataclass(frozen=True)
class IndicatorValue:
    """A unit's indicator so far, with the annual target it is held to (its own, or the scheme's)."""

    unit: str
    metric: str
    value: float
    target: float
    own_target: bool


def indicator_values(app: ScoringApp) -> list[IndicatorValue]:
    """Every unit's indicators for the scheme's year as of now — what Prometheus watches."""
    scheme = app.scheme
    as_of = min(datetime.now(scheme.tz), default_as_of(scheme.year, scheme))
    assessment, _ = app.compute(year=scheme.year, as_of=as_of, scheme=scheme, strict=False)
    values = []
    # The breakdowns without their task lines: a scrape never turns a province's tasks into lines.
    for entry in assessment.stored_document()["units"]:
        for metric in entry.get("breakdown", {}).get("metrics", []):
            if metric.get("value") is not None and metric.get("status") != "not_applicable":
                values.append(
                    IndicatorValue(
                        unit=entry["unit"],
                        metric=metric["metric"],
                        value=float(metric["value"]),
                        target=float(metric["target"]),
                        own_target=metric.get("target_source") == "target_record",
                    )
                )
    return values


class IndicatorCollector(Collector):
    """kaohe_indicator_value{unit,metric}, kaohe_indicator_target{metric,direction} (the share due by now),
    kaohe_indicator_annual_target{metric,direction}, kaohe_indicator_info{metric,name,kind}, and the target
    each unit is held to: kaohe_indicator_unit_target{unit,metric,direction,source} (its own target record's
    or the scheme's, the share due by now) and kaohe_indicator_unit_annual_target (the same, annual)."""

    def __init__(self, app: ScoringApp, *, ttl_seconds: float = 10.0) -> None:
        self.app = app
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[IndicatorValue]] = (0.0, [])

    def _values(self) -> list[IndicatorValue]:
        with self._lock:
            stamp, cached = self._cached
            if time.monotonic() - stamp > self.ttl:
                try:
                    cached = indicator_values(self.app)
                except Exception:
                    # A scrape must not fail because the tasks service is briefly away: the
                    # ServiceDown alert covers that, and stale values are better than none.
                    log.warning("indicator values unavailable", exc_info=True)
                self._cached = (time.monotonic(), cached)
            return cached

    def collect(self) -> Iterator[GaugeMetricFamily]:
        scheme = self.app.scheme
        today = datetime.now(scheme.tz).date()
        target = GaugeMetricFamily(
            "kaohe_indicator_target",
            "The target each indicator should have reached by now: the scheme's target, pro-rated by whole "
            "months for totals summed over the year.",
            labels=["metric", "direction"],
        )
        annual = GaugeMetricFamily(
            "kaohe_indicator_annual_target",
            "The scheme's annual target of each indicator.",
            labels=["metric", "direction"],
        )
        # Alert summaries and dashboards join on it to show 民生支出占比 rather than the id.
        info = GaugeMetricFamily(
            "kaohe_indicator_info",
            "Each indicator's name and kind (value 1).",
            labels=["metric", "name", "kind"],
        )
        for metric in scheme.metrics:
            target.add_metric(
                [metric.id, metric.direction], target_due(metric, year=scheme.year, today=today)
            )
            annual.add_metric([metric.id, metric.direction], metric.target)
            info.add_metric([metric.id, metric.name, metric.kind], 1)
        value = GaugeMetricFamily(
            "kaohe_indicator_value", "Each unit's annual indicator value so far.", labels=["unit", "metric"]
        )
        # The alerts compare each unit with the target it is held to: its own (目标责任书) or the scheme's.
        unit_target = GaugeMetricFamily(
            "kaohe_indicator_unit_target",
            "The target each unit should have reached by now in each indicator: its own target record's "
            "(source target_record) or the scheme's (source scheme), pro-rated like kaohe_indicator_target.",
            labels=["unit", "metric", "direction", "source"],
        )
        unit_annual = GaugeMetricFamily(
            "kaohe_indicator_unit_annual_target",
            "The annual target each unit is held to in each indicator: its own or the scheme's.",
            labels=["unit", "metric", "direction", "source"],
        )
        metrics = {metric.id: metric for metric in scheme.metrics}
        for item in self._values():
            value.add_metric([item.unit, item.metric], item.value)
            held = metrics.get(item.metric)
            if held is None:
                continue
            source = "target_record" if item.own_target else "scheme"
            labels = [item.unit, item.metric, held.direction, source]
            unit_target.add_metric(
                labels, target_due(held, year=scheme.year, today=today, target=item.target)
            )
            unit_annual.add_metric(labels, item.target)
        yield from (target, annual, info, value, unit_target, unit_annual)
