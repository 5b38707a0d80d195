"""结果运用 through the gateway: a run's notice, each unit's letter and the 优秀 list, as file bytes."""

from __future__ import annotations

import tomllib
from typing import Any

from google.protobuf import json_format
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services import results
from services.common.auth import Identity
from services.common.errors import InvalidArgument, NotFound
from services.common.paging import every
from services.common.text import check_id
from services.gateway.bulletin import record_kind
from services.gateway.use_cases import GatewayApp

PAGE = 5000
# The record kinds whose reasons a letter gives.
_REASONS = results.model.REASON_FIELDS


def issuer_of(scheme_text: str) -> tuple[str, str]:
    """(issuer, jurisdiction) as the scheme states them: [bulletin] issuer, [scheme] jurisdiction.

    Read from the scheme's own text, so that a scheme without the keys gives the defaults.
    """
    try:
        data = tomllib.loads(scheme_text)
    except tomllib.TOMLDecodeError:
        return results.model.DEFAULT_ISSUER, ""

    def text(section: str, key: str) -> str:
        table = data.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        return value.strip() if isinstance(value, str) else ""

    return text("bulletin", "issuer") or results.model.DEFAULT_ISSUER, text("scheme", "jurisdiction")


class ResultsView:
    """Gathers a run with its breakdown, the records' reasons and the tasks' titles, and renders them."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app

    def _run(
        self, identity: Identity, run: str, unit: str, timeout: float, *, breakdown: bool
    ) -> dict[str, Any]:
        if not run:
            raise InvalidArgument("run", "必须给出运行编号")
        check_id("run", run)
        return self.app._run_document(identity, run, 0, timeout, breakdown=breakdown, unit=unit)

    def _issue(self, identity: Identity, document: dict[str, Any], timeout: float) -> results.Issue:
        scheme = self.app.scheme(identity, timeout)
        issuer, jurisdiction = issuer_of(scheme.text)
        return results.issue_of(document, issuer=issuer, jurisdiction=jurisdiction)

    def notice(self, identity: Identity, *, run: str, timeout: float) -> gateway_pb2.GetResultNoticeResponse:
        document = self._run(identity, run, "", timeout, breakdown=False)
        issue = self._issue(identity, document, timeout)
        built = results.notice(document, issue)
        return gateway_pb2.GetResultNoticeResponse(
            run=issue.run,
            title=results.notice_title(issue),
            filename=f"考核结果通报-{issue.year}-{issue.run}.docx",
            content=results.render_notice(built),
            units=[str(u["unit"]) for u in document.get("units") or []],
        )

    def excellent(
        self, identity: Identity, *, run: str, timeout: float
    ) -> gateway_pb2.GetExcellentListResponse:
        document = self._run(identity, run, "", timeout, breakdown=False)
        year = document.get("year", "")
        return gateway_pb2.GetExcellentListResponse(
            run=str(document.get("run", "")),
            title=f"{year}年度考核优秀单位名单",
            filename=f"考核优秀单位-{year}-{document.get('run', '')}.csv",
            content=results.excellent_csv(document),
        )

    def letter(
        self, identity: Identity, *, run: str, unit: str, timeout: float
    ) -> gateway_pb2.GetResultLetterResponse:
        if not unit:
            raise InvalidArgument("unit", "必须给出单位代码")
        check_id("unit", unit)
        pool = self.app.pool
        document_f = pool.submit(self._run, identity, run, unit, timeout, breakdown=True)
        document = document_f.result()
        if not any(u.get("unit") == unit for u in document.get("units") or []):
            raise NotFound(f"单位 {unit!r} 不在运行 {run} 的结果中")
        year = int(document.get("year") or 0)
        issue_f = pool.submit(self._issue, identity, document, timeout)
        # The unit's peers (its category's units) for "排第N名（共M个）": a department sees only its own line.
        peers_f = (
            None
            if identity.is_department
            else pool.submit(self._run, identity, run, "", timeout, breakdown=False)
        )
        reasons_f = {
            kind: pool.submit(self._reasons, identity, kind, year, unit, timeout) for kind in _REASONS
        }
        titles_f = pool.submit(self._titles, identity, year, unit, timeout)
        reasons: dict[tuple[str, str], str] = {}
        for future in reasons_f.values():
            reasons.update(future.result())
        issue = issue_f.result()
        peers = peers_f.result().get("units", []) if peers_f is not None else None
        built = results.letter(document, unit, issue, reasons=reasons, titles=titles_f.result(), peers=peers)
        return gateway_pb2.GetResultLetterResponse(
            run=issue.run,
            title=results.letter_title(built),
            filename=f"{unit}.docx",
            content=results.render_letter(built),
            unit=unit,
        )

    def _reasons(
        self, identity: Identity, kind: str, year: int, unit: str, timeout: float
    ) -> dict[tuple[str, str], str]:
        def fetch(request: scoring_pb2.ListRecordsRequest) -> Any:
            return self.app._call(self.app.backends.scoring, "ListRecords", request, identity, timeout)

        request = scoring_pb2.ListRecordsRequest(kind=record_kind(kind), year=year, unit=unit, page_size=PAGE)
        found = {}
        for record in every(fetch, request, lambda reply: reply.records):
            fields = json_format.MessageToDict(record.fields)
            found[(kind, record.id)] = results.model.record_reason(kind, fields)
        return found

    def _titles(self, identity: Identity, year: int, unit: str, timeout: float) -> dict[str, str]:
        def fetch(request: tasks_pb2.ListTasksRequest) -> Any:
            return self.app._call(self.app.backends.tasks, "ListTasks", request, identity, timeout)

        request = tasks_pb2.ListTasksRequest(unit=unit, year=year, page_size=PAGE)
        return {t.id: t.title for t in every(fetch, request, lambda reply: reply.tasks)}
