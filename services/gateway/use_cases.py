"""The gateway's own views: overview, dashboard, ranking, export; the import (services/gateway/importing)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, TypeVar, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from prometheus_client import CollectorRegistry

from services.common.auth import Identity
from services.common.clients import Backend
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.common.protoenum import enum_number
from services.common.ranges import check_year
from services.common.result_wire import result_to_json_dict
from services.common.scheme import Scheme, load_scheme
from services.common.status import domain_error
from services.common.vocabulary import RECORD_KINDS, TASK_LINE_TYPES
from services.common.wiretime import epoch_of, local_of
from services.gateway.cache import ViewCache
from services.gateway.export import result_to_xlsx
from services.gateway.importing import LedgerImports
from services.gateway.versions import PushedVersions

T = TypeVar("T")
log = logging.getLogger("kaohe.gateway.import")
BATCH = 2000
# A unit's standing rows, the preview document they came from, the instant they were computed for (RFC 3339
# as tasks wrote it) and the county's time zone (the scheme's IANA name).
# (each unit's standing, the preview's document, the instant computed for, the time zone, the tag of all four)
Standings = tuple[list[gateway_pb2.UnitStanding], dict[str, Any], Timestamp | None, str, str]
TASK_TYPES = tuple(TASK_LINE_TYPES)
SCORING_TYPES = RECORD_KINDS


@dataclass
class Backends:
    tasks: Backend
    scoring: Backend


class GatewayApp:
    """The views people use, fanned out to tasks and scoring in parallel."""

    def __init__(
        self,
        backends: Backends,
        *,
        pool: ThreadPoolExecutor | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.backends = backends
        self.pool = pool or ThreadPoolExecutor(max_workers=16, thread_name_prefix="fanout")
        self._schemes: dict[str, Scheme] = {}
        self.standings: ViewCache[Standings] = ViewCache(view="standing", registry=registry)
        self.versions = PushedVersions(backends.tasks, backends.scoring, registry=registry)
        self.imports = LedgerImports(backends.tasks, backends.scoring, self._call)

    def _call(self, backend: Backend, method: str, request: Any, identity: Identity, timeout: float) -> Any:
        try:
            return backend.method(method)(request, metadata=backend.metadata(identity), timeout=timeout)
        except grpc.RpcError as exc:
            raise domain_error(exc, unavailable=backend.unavailable) from None

    def _both(self, first: Callable[[], T], second: Callable[[], Any]) -> tuple[T, Any]:
        """Both answers, or Unavailable naming every backend that did not answer."""
        futures: list[Future[Any]] = [self.pool.submit(first), self.pool.submit(second)]
        missing: list[str] = []
        results: list[Any] = []
        for future in futures:
            try:
                results.append(future.result())
            except Unavailable as exc:
                missing.append(str(exc))
                results.append(None)
        if missing:
            raise Unavailable("; ".join(missing))
        return results[0], results[1]

    def scheme(self, identity: Identity, timeout: float) -> Scheme:
        reply = self._call(
            self.backends.scoring, "GetScheme", scoring_pb2.GetSchemeRequest(), identity, timeout
        ).scheme
        if reply.sha256 not in self._schemes:
            self._schemes[reply.sha256] = load_scheme(reply.toml)
        return self._schemes[reply.sha256]

    # ---- import

    def import_ledger(
        self, source: IO[bytes], *, identity: Identity, validate_only: bool, timeout: float
    ) -> gateway_pb2.ImportLedgerResponse:
        """The spooled file imported through both services: all or nothing (see gateway/importing)."""
        try:
            return self.imports.run(source, identity=identity, validate_only=validate_only, timeout=timeout)
        finally:
            self.versions.wrote()

    # ---- views

    def _standings(self, identity: Identity, year: int, unit: str, timeout: float) -> Standings:
        """The live standing, computed once per version of the data it comes from (and of the clock).

        The versions (pushed; asked while a stream is down or after a write this gateway passed on) are
        read before the data, so what is computed is at least as new as the key it is kept under. It is
        good until the first instant at which a task's colour, an overdue count or the set of counted
        tasks would change by itself (tasks' next_change); the reply's as_of says the instant it was
        computed for.
        """
        tasks_version, scoring_version = self.versions.read(
            lambda backend, request: self._call(backend, "GetVersion", request, identity, timeout), self._both
        )
        key = (
            tasks_version.sequence,
            scoring_version.sequence,
            scoring_version.scheme_sha256,
            year,
            unit,
            identity.role,
            identity.unit if identity.is_department else "",
        )
        versions = f"{tasks_version.sequence}.{scoring_version.sequence}.{scoring_version.scheme_sha256[:16]}"
        return self.standings.fetch(
            key,
            now=epoch_of(tasks_version, "at") or 0,
            valid_until=epoch_of(tasks_version, "next_change") or 0,
            compute=lambda: self._compute_standings(identity, year, unit, timeout, versions=versions),
            timeout=timeout,
        )

    def _compute_standings(
        self, identity: Identity, year: int, unit: str, timeout: float, *, versions: str
    ) -> Standings:
        """The standings read now; tagged with the versions read before them and the instant they are for."""

        def summary() -> Any:
            return self._call(
                self.backends.tasks,
                "SummarizeTasks",
                tasks_pb2.SummarizeTasksRequest(year=year, unit=unit),
                identity,
                timeout,
            )

        def preview() -> Any:
            reply = self._call(
                self.backends.scoring,
                "PreviewAssessment",
                scoring_pb2.PreviewAssessmentRequest(year=year, unit=unit),
                identity,
                timeout,
            )
            return result_to_json_dict(reply.result)

        summary_reply, document = self._both(summary, preview)
        counts = {s.unit: s for s in summary_reply.units}
        interim = bool(document.get("interim"))
        standings = [
            _standing(entry, counts.get(entry["unit"]), interim=interim) for entry in document["units"]
        ]
        time_zone = self.scheme(identity, timeout).timezone
        as_of = summary_reply.as_of if summary_reply.HasField("as_of") else None
        etag = f"{versions}.{as_of.seconds if as_of is not None else 0}.{secrets.token_hex(4)}"
        return standings, document, as_of, time_zone, etag

    def overview(self, identity: Identity, year: int, timeout: float) -> gateway_pb2.GetOverviewResponse:
        check_year(year)
        asked = bool(year)
        year = year or datetime.now().year
        unit = identity.unit if identity.is_department else ""
        standings, document, as_of, time_zone, etag = self._standings(identity, year, unit, timeout)
        if asked and not any(_assessed(entry) for entry in document["units"]):
            # As `assess run` refuses it: a year named that has nothing to show is a mistake, not zeros.
            raise InvalidArgument(
                "year", f"{year} 年度没有可考核的内容：没有计入的任务，也没有该年度的指标值"
            )
        return gateway_pb2.GetOverviewResponse(
            year=year,
            as_of=as_of,
            scheme=document.get("scheme", ""),
            units=standings,
            interim=bool(document.get("interim")),
            time_zone=time_zone,
            etag=etag,
        )

    def dashboard(
        self, identity: Identity, unit: str, year: int, timeout: float
    ) -> gateway_pb2.GetDashboardResponse:
        check_year(year)
        if not unit:
            raise InvalidArgument("unit", "必须填写")
        year = year or datetime.now().year
        standings, document, as_of, time_zone, etag = self._standings(identity, year, unit, timeout)
        standing, below = _own_and_below(standings, unit)
        scheme = self.scheme(identity, timeout)
        tasks_reply = self._call(
            self.backends.tasks,
            "ListTasks",
            tasks_pb2.ListTasksRequest(unit=unit, page_size=5000),
            identity,
            timeout,
        )
        entry = next(e for e in document["units"] if e["unit"] == unit)
        weights = sum(t["weight"] for t in entry.get("breakdown", {}).get("tasks", []))
        points = scheme.timeliness.points
        now = local_of(tasks_reply, "as_of", scheme.tz) or datetime.now().astimezone()
        items = []
        for task in tasks_reply.tasks:
            if task.color == common_pb2.TASK_COLOR_UNSPECIFIED:
                continue
            weight = scheme.timeliness.priority_weights.get(task.priority, 1.0)
            if task.lead_unit != unit:
                weight *= scheme.timeliness.co_unit_weight
            due = local_of(task, "due_at", scheme.tz) or now
            counted = task.color == common_pb2.TASK_COLOR_RED and due.year == year
            total_weight = weights if counted else weights + weight
            # A task due in another year is scored in that year's assessment, not this one.
            cost = points * weight / total_weight if total_weight and due.year == year else 0.0
            late_penalty = scheme.timeliness.late_penalty_per_working_day
            items.append(
                _open_item(
                    task, hours_left=(due - now).total_seconds() / 3600, cost=cost, per_day=late_penalty
                )
            )
        items.sort(key=lambda i: i.hours_left)
        return gateway_pb2.GetDashboardResponse(
            standing=standing, open_items=items, as_of=as_of, time_zone=time_zone, below=below, etag=etag
        )

    def _run_document(
        self, identity: Identity, run: str, year: int, timeout: float, breakdown: bool, unit: str = ""
    ) -> dict[str, Any]:
        reply = self._call(
            self.backends.scoring,
            "GetRun",
            scoring_pb2.GetRunRequest(id=run, year=year, unit=unit, omit_breakdown=not breakdown),
            identity,
            timeout,
        )
        return result_to_json_dict(reply.run.result)

    def ranking(
        self, identity: Identity, run: str, year: int, timeout: float
    ) -> gateway_pb2.GetRankingResponse:
        document = self._run_document(identity, run, year, timeout, breakdown=False)
        categories: dict[str, list[gateway_pb2.RankingRow]] = {}
        for entry in document["units"]:
            categories.setdefault(entry["category"], []).append(
                gateway_pb2.RankingRow(
                    rank=entry["rank"],
                    unit=entry["unit"],
                    name=entry["name"],
                    total=entry["total"],
                    grade=entry["grade"],
                    veto=entry["veto"],
                )
            )
        return gateway_pb2.GetRankingResponse(
            run=document["run"],
            state=cast(common_pb2.RunState, enum_number(common_pb2.RunState.DESCRIPTOR, document["state"])),
            year=document["year"],
            categories=[
                gateway_pb2.CategoryRanking(category=c, rows=_by_rank(rows)) for c, rows in categories.items()
            ],
        )

    def export(
        self, identity: Identity, run: str, timeout: float, *, unit: str = ""
    ) -> gateway_pb2.ExportRunResponse:
        if not run:
            raise InvalidArgument("run", "必须填写")
        document = self._run_document(identity, run, 0, timeout, breakdown=True, unit=unit)
        return gateway_pb2.ExportRunResponse(
            filename=f"考核结果-{document['run']}.xlsx", xlsx=result_to_xlsx(document)
        )


def _assessed(entry: dict[str, Any]) -> bool:
    """Whether a unit's live standing scores anything: a counted task, or a reading of an indicator."""
    metrics = entry.get("breakdown", {}).get("metrics", [])
    return entry["timeliness_max"] > 0 or any(m.get("value") is not None for m in metrics)


def _open_item(
    task: tasks_pb2.Task, *, hours_left: float, cost: float, per_day: float
) -> gateway_pb2.OpenItem:
    """An open task of a unit's dashboard, its closed sets as enums and its instants as Timestamps."""
    return gateway_pb2.OpenItem(
        task=task.id,
        title=task.title,
        task_type=task.task_type,
        state=task.state,
        color=task.color,
        due_at=task.due_at if task.HasField("due_at") else None,
        hours_left=hours_left,
        cost_if_overdue=cost,
        cost_per_late_day=cost * per_day,
        progress_overdue_since=(
            task.progress_overdue_since if task.HasField("progress_overdue_since") else None
        ),
    )


def _standing(entry: dict[str, Any], s: Any, *, interim: bool) -> gateway_pb2.UnitStanding:
    """A unit's live standing: its tasks' counts (s, None when it has none) and its preview's entry."""
    s = s or tasks_pb2.UnitTaskSummary(unit=entry["unit"], on_time_rate=-1)
    breakdown = entry.get("breakdown", {})
    return gateway_pb2.UnitStanding(
        unit=entry["unit"],
        name=entry["name"],
        category=entry["category"],
        open_blue=s.open_blue,
        open_yellow=s.open_yellow,
        open_red=s.open_red,
        overdue=s.overdue,
        reported_on_time=s.reported_on_time,
        reported_late=s.reported_late,
        on_time_rate=s.on_time_rate,
        error_reports=sum(1 for e in breakdown.get("errors", []) if not e.get("voided")),
        indicators=[_indicator(m) for m in breakdown.get("metrics", [])],
        provisional_total=entry["total"],
        provisional_rank=entry["rank"],
        provisional_grade=entry["grade"],
        veto=entry["veto"],
        nothing_due=interim and not _assessed(entry),
    )


def _indicator(metric: dict[str, Any]) -> gateway_pb2.IndicatorStanding:
    """One indicator of a unit's preview breakdown, its closed sets as enums."""
    value = metric.get("value")
    return gateway_pb2.IndicatorStanding(
        metric=metric["metric"],
        name=metric.get("name", metric["metric"]),
        value=value if value is not None else 0.0,
        has_value=value is not None,
        target=metric["target"],
        target_source=cast(
            gateway_pb2.TargetSource,
            enum_number(
                gateway_pb2.TargetSource.DESCRIPTOR,
                metric.get("target_source", "scheme"),
                field="target_source",
            ),
        ),
        direction=cast(
            gateway_pb2.IndicatorDirection,
            enum_number(gateway_pb2.IndicatorDirection.DESCRIPTOR, metric["direction"], field="direction"),
        ),
        status=cast(
            gateway_pb2.IndicatorStatus,
            enum_number(gateway_pb2.IndicatorStatus.DESCRIPTOR, metric["status"], field="status"),
        ),
        earned=metric["earned"],
        max=metric["max"],
    )


def _own_and_below(
    standings: list[gateway_pb2.UnitStanding], unit: str
) -> tuple[gateway_pb2.UnitStanding, list[gateway_pb2.UnitStanding]]:
    """unit's standing and, by id, the others': a 乡镇's account asking for its own gets its 村's too."""
    own = [s for s in standings if s.unit == unit]
    if not own:
        raise NotFound(f"单位 {unit!r} 不存在")
    return own[0], sorted((s for s in standings if s.unit != unit), key=lambda s: s.unit)


def _by_rank(rows: list[gateway_pb2.RankingRow]) -> list[gateway_pb2.RankingRow]:
    return sorted(rows, key=lambda row: (row.rank, row.unit))
