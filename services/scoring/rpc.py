"""ScoringService and ScoringInternalService servicers: protobuf in, use case, protobuf out — nothing else."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import grpc
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc

from services.common import attachment_rpc
from services.common.attachments import AttachmentStore
from services.common.change_watch import ChangeWatch
from services.common.errors import InvalidArgument
from services.common.messages import refuse_nul
from services.common.protoenum import enum_number
from services.common.result_wire import result_to_message
from services.common.rpc import current_identity
from services.common.wiretime import set_instant
from services.scoring.attachments import scoring_desk
from services.scoring.export import record_lines
from services.scoring.messages import (
    APPEAL_STATE,
    APPLICATION_STATE,
    APPLICATION_TARGET,
    RECORD_KIND,
    appeal_message,
    application_message,
    code,
    record_message,
    struct_fields,
)
from services.scoring.use_cases import ScoringApp
from services.scoring.views import RunView


def run_message(view: RunView, timezone: str) -> scoring_pb2.Run:
    """A run as the service answers it, its result document as a Result message."""
    values = {
        k: v for k, v in view.__dict__.items() if k not in _RUN_INSTANTS and k not in ("state", "document")
    }
    result = None if view.document is None else result_to_message(view.document, timezone=timezone)
    run = scoring_pb2.Run(
        **values,
        state=common_pb2.RunState.Name(
            enum_number(common_pb2.RunState.DESCRIPTOR, view.state, field="state")
        ),
        result=result,
    )
    for field in _RUN_INSTANTS:
        text = getattr(view, field)
        if text:
            set_instant(getattr(run, field), datetime.fromisoformat(text))
    return run


_RUN_INSTANTS = ("as_of", "created_at", "published_at", "finalized_at", "appeal_deadline")


@refuse_nul
class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """The annual assessment over gRPC, as people (through the gateway) use it."""

    def __init__(self, app: ScoringApp, files: AttachmentStore | None = None) -> None:
        self.app = app
        self.attachments = scoring_desk(app, files) if files is not None else None

    def _run(self, view: RunView) -> scoring_pb2.Run:
        return run_message(view, self.app.tz.key)

    def GetScheme(
        self, request: scoring_pb2.GetSchemeRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetSchemeResponse:
        scheme = self.app.scheme_by_sha(request.sha256)
        return scoring_pb2.GetSchemeResponse(
            scheme=scoring_pb2.Scheme(
                id=scheme.id,
                name=scheme.name,
                year=scheme.year,
                sha256=scheme.sha256,
                timezone=scheme.timezone,
                toml=scheme.text,
            )
        )

    def CreateRecord(
        self, request: scoring_pb2.CreateRecordRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.CreateRecordResponse:
        fields = struct_fields(request.fields)
        view = self.app.create_record(
            actor=current_identity(),
            request_id=request.request_id,
            kind=code(RECORD_KIND, request.kind),
            fields=fields,
        )
        return scoring_pb2.CreateRecordResponse(record=record_message(view))

    def ListRecords(
        self, request: scoring_pb2.ListRecordsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ListRecordsResponse:
        views, token = self.app.list_records(
            actor=current_identity(),
            kind=code(RECORD_KIND, request.kind),
            unit=request.unit,
            year=request.year,
            include_voided=request.include_voided,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListRecordsResponse(
            records=[record_message(v) for v in views], next_page_token=token
        )

    def VoidRecord(
        self, request: scoring_pb2.VoidRecordRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.VoidRecordResponse:
        view = self.app.void_record(
            actor=current_identity(),
            request_id=request.request_id,
            kind=code(RECORD_KIND, request.kind),
            rid=request.id,
            reason=request.reason,
        )
        return scoring_pb2.VoidRecordResponse(record=record_message(view))

    def DecideAppeal(
        self, request: scoring_pb2.DecideAppealRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.DecideAppealResponse:
        view = self.app.decide_appeal(
            actor=current_identity(),
            request_id=request.request_id,
            rid=request.id,
            upheld=request.upheld,
            reason=request.reason,
        )
        return scoring_pb2.DecideAppealResponse(record=record_message(view))

    def FileApplication(
        self, request: scoring_pb2.FileApplicationRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.FileApplicationResponse:
        view = self.app.workflow.file(
            actor=current_identity(),
            request_id=request.request_id,
            app_id=request.id,
            unit=request.unit,
            target_type=code(APPLICATION_TARGET, request.target_type),
            target=request.target,
            reason=request.reason,
        )
        return scoring_pb2.FileApplicationResponse(application=application_message(view))

    def DecideApplication(
        self, request: scoring_pb2.DecideApplicationRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.DecideApplicationResponse:
        view = self.app.workflow.decide(
            actor=current_identity(),
            request_id=request.request_id,
            app_id=request.id,
            decision=code(APPLICATION_STATE, request.decision),
            reason=request.reason,
        )
        return scoring_pb2.DecideApplicationResponse(application=application_message(view))

    def ListApplications(
        self, request: scoring_pb2.ListApplicationsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ListApplicationsResponse:
        views, token = self.app.workflow.list_applications(
            actor=current_identity(),
            unit=request.unit,
            year=request.year,
            state=code(APPLICATION_STATE, request.state),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListApplicationsResponse(
            applications=[application_message(v) for v in views], next_page_token=token
        )

    def ListAppeals(
        self, request: scoring_pb2.ListAppealsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ListAppealsResponse:
        views, token = self.app.workflow.list_appeals(
            actor=current_identity(),
            unit=request.unit,
            year=request.year,
            state=code(APPEAL_STATE, request.state),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListAppealsResponse(
            appeals=[appeal_message(v) for v in views], next_page_token=token
        )

    def CreateRun(
        self, request: scoring_pb2.CreateRunRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.CreateRunResponse:
        view = self.app.create_run(
            actor=current_identity(),
            request_id=request.request_id,
            year=request.year,
            as_of=request.as_of,
            scheme_toml=request.scheme_toml,
            supersedes=request.supersedes,
            breakdown=not request.omit_breakdown,
        )
        return scoring_pb2.CreateRunResponse(run=self._run(view))

    def GetRun(
        self, request: scoring_pb2.GetRunRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetRunResponse:
        view = self.app.get_run(
            actor=current_identity(),
            run_id=request.id,
            year=request.year,
            unit=request.unit,
            breakdown=not request.omit_breakdown,
        )
        return scoring_pb2.GetRunResponse(run=self._run(view))

    def ListRuns(
        self, request: scoring_pb2.ListRunsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ListRunsResponse:
        views, token = self.app.list_runs(
            actor=current_identity(),
            year=request.year,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListRunsResponse(runs=[self._run(v) for v in views], next_page_token=token)

    def PublishRun(
        self, request: scoring_pb2.PublishRunRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.PublishRunResponse:
        view = self.app.publish_run(
            actor=current_identity(), request_id=request.request_id, run_id=request.id, etag=request.etag
        )
        return scoring_pb2.PublishRunResponse(run=self._run(view))

    def FinalizeRun(
        self, request: scoring_pb2.FinalizeRunRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.FinalizeRunResponse:
        view = self.app.finalize_run(
            actor=current_identity(), request_id=request.request_id, run_id=request.id, etag=request.etag
        )
        return scoring_pb2.FinalizeRunResponse(run=self._run(view))

    def PreviewAssessment(
        self, request: scoring_pb2.PreviewAssessmentRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.PreviewAssessmentResponse:
        document = self.app.preview(
            actor=current_identity(), year=request.year, as_of=request.as_of, unit=request.unit
        )
        return scoring_pb2.PreviewAssessmentResponse(
            result=result_to_message(document, timezone=self.app.tz.key)
        )

    def UploadAttachment(
        self, request_iterator: Iterator[scoring_pb2.UploadAttachmentRequest], context: grpc.ServicerContext
    ) -> scoring_pb2.UploadAttachmentResponse:
        made = attachment_rpc.upload(self.attachments, iter(request_iterator))
        return scoring_pb2.UploadAttachmentResponse(attachment=made)

    def ListAttachments(
        self, request: scoring_pb2.ListAttachmentsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ListAttachmentsResponse:
        found = attachment_rpc.list_of(self.attachments, request.item_kind, request.item_id)
        return scoring_pb2.ListAttachmentsResponse(attachments=found)

    def DownloadAttachment(
        self, request: scoring_pb2.DownloadAttachmentRequest, context: grpc.ServicerContext
    ) -> Iterator[scoring_pb2.DownloadAttachmentResponse]:
        for attachment, data in attachment_rpc.download(self.attachments, request.id):
            yield scoring_pb2.DownloadAttachmentResponse(attachment=attachment, data=data)


@refuse_nul
class ScoringInternalServicer(scoring_pb2_grpc.ScoringInternalServiceServicer):
    """What only other services call: imports in two phases, the version, the records' export."""

    def __init__(self, app: ScoringApp, watch: ChangeWatch) -> None:
        self.app = app
        self.watch = watch

    def ImportRecords(
        self, request_iterator: Iterator[scoring_pb2.ImportRecordsRequest], context: grpc.ServicerContext
    ) -> scoring_pb2.ImportRecordsResponse:
        messages = iter(request_iterator)
        first = next(messages, None)
        validate_only, stage_as = False, ""
        if first is not None:
            validate_only = first.validate_only
            if first.prepare or first.import_id:
                stage_as = _import_id(first.import_id)
        pending_units: set[str] = set()
        pending_tasks: dict[str, tuple[str, list[str]]] = {}

        def lines() -> Iterator[tuple[int, str]]:
            # Each message's lines parsed as it arrives (the text is not kept); the pending ids come
            # first and are complete before any line is checked against them.
            for message in itertools.chain([first] if first is not None else [], messages):
                pending_units.update(message.pending_units)
                for task in message.pending_tasks:
                    pending_tasks[task.id] = (task.lead_unit, [c for c in task.co_units if c])
                yield from ((line.line, line.json) for line in message.lines)

        created, unchanged = self.app.import_records(
            lines(),
            validate_only=validate_only,
            actor=current_identity(),
            pending_units=pending_units,
            pending_tasks=pending_tasks,
            stage_as=stage_as,
        )
        return scoring_pb2.ImportRecordsResponse(created=dict(created), unchanged=dict(unchanged))

    def CommitImport(
        self, request: scoring_pb2.CommitImportRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.CommitImportResponse:
        applied = self.app.staged.commit(_import_id(request.import_id))
        return scoring_pb2.CommitImportResponse(applied=applied)

    def AbortImport(
        self, request: scoring_pb2.AbortImportRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.AbortImportResponse:
        applied = self.app.staged.abort(_import_id(request.import_id))
        return scoring_pb2.AbortImportResponse(applied=applied)

    def ExportRecords(
        self, request: scoring_pb2.ExportRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[scoring_pb2.ExportRecordsResponse]:
        for lines in record_lines(self.app.db):
            yield scoring_pb2.ExportRecordsResponse(lines=lines)

    def GetVersion(
        self, request: scoring_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetVersionResponse:
        return scoring_pb2.GetVersionResponse(
            sequence=self.app.db.sequence(), scheme_sha256=self.app.scheme.sha256
        )

    def WatchVersion(
        self, request: scoring_pb2.WatchVersionRequest, context: grpc.ServicerContext
    ) -> Iterator[scoring_pb2.WatchVersionResponse]:
        def read() -> tuple[scoring_pb2.WatchVersionResponse, float]:
            version = self.GetVersion(scoring_pb2.GetVersionRequest(), context)
            return scoring_pb2.WatchVersionResponse(version=version), 0

        yield from self.watch.follow(context, read)


def _import_id(value: str) -> str:
    """The gateway's id of a two-service import: present, short and printable."""
    if not value or len(value) > 64 or not value.isprintable():
        raise InvalidArgument("import_id", "须为 1 到 64 个可打印字符")
    return value
