"""GatewayService servicer: protobuf in, view, protobuf out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import grpc
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from services.common.clients import deadline
from services.common.db import Database
from services.common.errors import PermissionDenied
from services.common.files import spooled
from services.common.rpc import current_identity
from services.common.wiretime import instant
from services.gateway.accounts.rpc import role_number
from services.gateway.bulletin import BulletinView
from services.gateway.bulletin_issues import IssueNumbers, MemoryIssueNumbers
from services.gateway.import_requests import ImportRequests
from services.gateway.ledger_export import ledger_lines
from services.gateway.policy import GATEWAY, authorize, scoped_unit
from services.gateway.proxy import Audit
from services.gateway.results import ResultsView
from services.gateway.use_cases import GatewayApp
from services.gateway.workbook_import import import_workbook, is_workbook_upload


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    """The aggregated views, each authorised through the policy table."""

    def __init__(
        self,
        app: GatewayApp,
        audit: Audit,
        *,
        issue_numbers: IssueNumbers | None = None,
        requests: Database | None = None,
    ) -> None:
        self.app = app
        self.audit = audit
        # Imports by request id, kept in the gateway's database when it has one.
        self.imports = ImportRequests(requests)
        self.bulletin = BulletinView(app, issue_numbers or MemoryIssueNumbers())
        self.results = ResultsView(app)

    def _allow(self, method: str, unit: str | None = None) -> str:
        identity = current_identity()
        try:
            rule = authorize(identity, GATEWAY + method)
            # below: a 乡镇 may name one of its 村, the backends check the unit's parent.
            return scoped_unit(identity, unit or "", below=rule.below) if unit is not None else ""
        except PermissionDenied as exc:
            self.audit(identity, GATEWAY + method, "denied", str(exc))
            raise

    def WhoAmI(
        self, request: gateway_pb2.WhoAmIRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.WhoAmIResponse:
        self._allow("WhoAmI")
        identity = current_identity()
        return gateway_pb2.WhoAmIResponse(
            subject=identity.subject,
            role=role_number(identity.role),
            unit=identity.unit,
            expires_at=instant(identity.expires_at or None),
        )

    def ImportLedger(
        self, request_iterator: Iterator[gateway_pb2.ImportLedgerRequest], context: grpc.ServicerContext
    ) -> gateway_pb2.ImportLedgerResponse:
        self._allow("ImportLedger")
        validate_only, request_id, digest = False, "", hashlib.sha256()
        # The upload goes to a private temporary file, never held whole: removed once the import ends.
        with spooled(self.app.imports.spool_dir) as spool:
            for index, message in enumerate(request_iterator):
                if index == 0:
                    validate_only, request_id = message.validate_only, message.request_id
                spool.write(message.data)
                digest.update(message.data)
            once = "" if validate_only else request_id
            done = self.imports.answer(current_identity(), once, digest.hexdigest())
            if done is not None:
                return done
            # An Excel workbook (the office's 台账) is read into JSON lines and imported as those are.
            load = import_workbook if is_workbook_upload(spool) else GatewayApp.import_ledger
            reply = load(
                self.app,
                spool,
                identity=current_identity(),
                validate_only=validate_only,
                timeout=deadline(context, 600.0),
            )
        self.imports.record(current_identity(), once, digest.hexdigest(), reply)
        if not validate_only:
            self.audit(
                current_identity(),
                GATEWAY + "ImportLedger",
                "changed",
                f"lines={reply.lines} created={dict(reply.created)}",
            )
        return reply

    def ExportLedger(
        self, request: gateway_pb2.ExportLedgerRequest, context: grpc.ServicerContext
    ) -> Iterator[gateway_pb2.ExportLedgerResponse]:
        self._allow("ExportLedger")
        yield from ledger_lines(self.app, current_identity(), deadline(context, 600.0))

    def GetOverview(
        self, request: gateway_pb2.GetOverviewRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetOverviewResponse:
        self._allow("GetOverview")
        return self.app.overview(current_identity(), request.year, deadline(context))

    def GetDashboard(
        self, request: gateway_pb2.GetDashboardRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetDashboardResponse:
        unit = self._allow("GetDashboard", request.unit)
        try:
            return self.app.dashboard(current_identity(), unit, request.year, deadline(context))
        except PermissionDenied as exc:
            # A unit out of a department's reach (a 乡镇 its 村): refused by tasks or scoring, audited here.
            self.audit(current_identity(), GATEWAY + "GetDashboard", "denied", str(exc))
            raise

    def GetRanking(
        self, request: gateway_pb2.GetRankingRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetRankingResponse:
        self._allow("GetRanking")
        return self.app.ranking(current_identity(), request.run, request.year, deadline(context))

    def ExportRun(
        self, request: gateway_pb2.ExportRunRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.ExportRunResponse:
        unit = self._allow("ExportRun", request.unit)
        return self.app.export(current_identity(), request.run, deadline(context), unit=unit)

    def GetBulletin(
        self, request: gateway_pb2.GetBulletinRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetBulletinResponse:
        self._allow("GetBulletin")
        return self.bulletin.render(
            current_identity(),
            period=request.period,
            as_of=request.as_of,
            issue=request.issue,
            timeout=deadline(context, 120.0),
        )

    def GetResultNotice(
        self, request: gateway_pb2.GetResultNoticeRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetResultNoticeResponse:
        self._allow("GetResultNotice")
        return self.results.notice(current_identity(), run=request.run, timeout=deadline(context, 120.0))

    def GetResultLetter(
        self, request: gateway_pb2.GetResultLetterRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetResultLetterResponse:
        unit = self._allow("GetResultLetter", request.unit)
        return self.results.letter(
            current_identity(), run=request.run, unit=unit, timeout=deadline(context, 120.0)
        )

    def GetExcellentList(
        self, request: gateway_pb2.GetExcellentListRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.GetExcellentListResponse:
        self._allow("GetExcellentList")
        return self.results.excellent(current_identity(), run=request.run, timeout=deadline(context, 120.0))
