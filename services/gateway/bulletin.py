"""The supervision bulletin (督查通报) through the gateway: a period's tasks and records as a .docx."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, date, datetime
from typing import Any, cast

from google.protobuf import json_format
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services import bulletin as bl
from services.common.auth import Identity
from services.common.paging import every
from services.common.protoenum import enum_code, enum_number
from services.common.timeutil import parse_instant
from services.common.vocabulary import ACCOUNTABILITY_KINDS
from services.common.wiretime import instant, local_of
from services.gateway.bulletin_issues import IssueNumbers, check_requested
from services.gateway.use_cases import GatewayApp

PAGE = 5000


def _aware(message: Any, field: str) -> datetime:
    """A Timestamp the message always carries, as an aware datetime (UTC)."""
    return datetime.fromtimestamp(int(getattr(message, field).seconds), UTC)


def _day(fields: dict[str, Any]) -> date:
    return date.fromisoformat(str(fields.get("date", ""))[:10])


class BulletinView:
    """Gathers what a bulletin states from tasks and scoring, in parallel, and renders it."""

    def __init__(self, app: GatewayApp, numbers: IssueNumbers) -> None:
        self.app = app
        self.numbers = numbers

    def _units(self, identity: Identity, timeout: float) -> list[bl.Unit]:
        def fetch(request: tasks_pb2.ListUnitsRequest) -> Any:
            return self.app._call(self.app.backends.tasks, "ListUnits", request, identity, timeout)

        found = every(fetch, tasks_pb2.ListUnitsRequest(page_size=PAGE), lambda r: r.units)
        return [bl.Unit(id=u.id, name=u.name, category=u.category) for u in found]

    def _tasks(self, identity: Identity, year: int, as_of: datetime, timeout: float) -> list[bl.Task]:
        def fetch(request: tasks_pb2.ListTasksRequest) -> Any:
            return self.app._call(self.app.backends.tasks, "ListTasks", request, identity, timeout)

        request = tasks_pb2.ListTasksRequest(year=year, as_of=instant(as_of), page_size=PAGE)
        tasks = []
        for t in every(fetch, request, lambda r: r.tasks):
            due = local_of(t, "due_at", UTC)
            if due is None:
                continue
            tasks.append(
                bl.Task(
                    id=t.id,
                    title=t.title,
                    lead_unit=t.lead_unit,
                    co_units=tuple(t.co_units),
                    due_at=due,
                    reported_at=local_of(t, "reported_at", UTC),
                    state=enum_code(common_pb2.TaskState.DESCRIPTOR, t.state),
                    cancelled=t.state == common_pb2.TASK_STATE_CANCELLED,
                )
            )
        return tasks

    def _records(self, identity: Identity, kind: str, year: int, timeout: float) -> list[Any]:
        def fetch(request: scoring_pb2.ListRecordsRequest) -> Any:
            return self.app._call(self.app.backends.scoring, "ListRecords", request, identity, timeout)

        request = scoring_pb2.ListRecordsRequest(kind=record_kind(kind), year=year, page_size=PAGE)
        found = every(fetch, request, lambda reply: reply.records)
        return [(r, json_format.MessageToDict(r.fields)) for r in found]

    def _extensions(self, identity: Identity, year: int, timeout: float) -> list[bl.Extension]:
        def fetch(request: tasks_pb2.ListExtensionsRequest) -> Any:
            return self.app._call(self.app.backends.tasks, "ListExtensions", request, identity, timeout)

        request = tasks_pb2.ListExtensionsRequest(year=year, page_size=1000)

        return [
            bl.Extension(
                id=e.id,
                task=e.task_id,
                title=e.task_title,
                unit=e.unit,
                filed_at=_aware(e, "filed_at"),
                due_before=_aware(e, "due_before"),
                asked_due=_aware(e, "asked_due"),
                state=enum_code(tasks_pb2.ExtensionState.DESCRIPTOR, e.state),
                granted_due=local_of(e, "granted_due", UTC),
            )
            for e in every(fetch, request, lambda reply: reply.extensions)
        ]

    def render(
        self, identity: Identity, *, period: str, as_of: str, timeout: float, issue: int = 0
    ) -> gateway_pb2.GetBulletinResponse:
        """The bulletin of the period as tasks and records stand at as_of (now when empty), as issue N.

        issue 0 takes the number the period already has this year, else the year's next one.
        """
        parsed = bl.parse_period(period)
        check_requested(issue)
        moment = parse_instant(as_of, field="as_of") if as_of else datetime.now().astimezone()
        year = parsed.start.year
        pool = self.app.pool
        scheme_f = pool.submit(self.app.scheme, identity, timeout)
        units_f = pool.submit(self._units, identity, timeout)
        tasks_f = pool.submit(self._tasks, identity, year, moment, timeout)
        records_f = {
            kind: pool.submit(self._records, identity, kind, year, timeout)
            for kind in ("error_report", "accountability", "incentive", "appeal")
        }
        # A request is listed in the period it was filed in (a period lies within one year, else all years).
        filed_year = year if parsed.end.year == year else 0
        extensions_f = pool.submit(self._extensions, identity, filed_year, timeout)
        scheme = scheme_f.result()
        errors, accountability, incentives = self._stated_records(records_f)
        issued = moment.astimezone(scheme.tz).date()
        number = self.numbers.number(year=issued.year, period=parsed.code, requested=issue)
        built = bl.build_bulletin(
            period=parsed,
            as_of=moment.astimezone(scheme.tz),
            units=units_f.result(),
            tasks=tasks_f.result(),
            errors=errors,
            accountability=accountability,
            extensions=extensions_f.result(),
            incentives=incentives,
            tz=scheme.tz,
            issuer=scheme.bulletin.issuer,
            kind_labels=ACCOUNTABILITY_KINDS,
            calendar=scheme.calendar(),
            jurisdiction=scheme.jurisdiction,
            issue=number,
            doc_prefix=scheme.bulletin.doc_prefix,
        )
        title = bl.title_text(built)
        return gateway_pb2.GetBulletinResponse(
            period=parsed.code,
            title=title,
            filename=f"督查通报-{parsed.code}.docx",
            docx=bl.render_docx(built),
            issue=number,
            doc_number=built.doc_number,
        )

    @staticmethod
    def _stated_records(
        records_f: dict[str, Future[list[Any]]],
    ) -> tuple[list[bl.ErrorReport], list[bl.Accountability], list[bl.Incentive]]:
        """The period's error reports, accountability and incentive records as the bulletin states them."""
        # An upheld appeal voids the error report or accountability record it names (FORMATS.md).
        upheld = {
            (str(f.get("target_type") or "error_report"), str(f.get("target") or f.get("error_report") or ""))
            for _, f in records_f["appeal"].result()
            if f.get("upheld") is True
        }
        errors = [
            bl.ErrorReport(
                id=r.id,
                unit=r.unit,
                date=_day(f),
                category=str(f.get("category", "other")),
                severity=str(f.get("severity", "general")),
                description=str(f.get("description", "")),
                voided=r.voided or ("error_report", r.id) in upheld,
            )
            for r, f in records_f["error_report"].result()
        ]
        accountability = [
            bl.Accountability(
                id=r.id,
                unit=r.unit,
                date=_day(f),
                kind=str(f.get("kind", "")),
                reason=str(f.get("reason", "")),
                voided=r.voided or ("accountability", r.id) in upheld,
            )
            for r, f in records_f["accountability"].result()
        ]
        incentives = [
            bl.Incentive(
                id=r.id,
                unit=r.unit,
                date=_day(f),
                level=str(f.get("level", "")),
                reason=str(f.get("reason", "")),
                voided=r.voided,
            )
            for r, f in records_f["incentive"].result()
        ]
        return errors, accountability, incentives


def record_kind(code: str) -> scoring_pb2.RecordKind:
    """A record kind's code as the scoring contract's enum."""
    return cast(scoring_pb2.RecordKind, enum_number(scoring_pb2.RecordKind.DESCRIPTOR, code, field="kind"))
