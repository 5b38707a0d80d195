"""ScoringService servicer: protobuf in, use case, protobuf out — nothing else."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc

from services.common import attachment_rpc
from services.common.attachments import AttachmentStore
from services.common.errors import InvalidArgument
from services.common.messages import refuse_nul
from services.common.rpc import current_identity
from services.scoring.applications import AppealView, ApplicationView
from services.scoring.attachments import scoring_desk
from services.scoring.export import record_lines
from services.scoring.use_cases import ScoringApp
from services.scoring.views import RecordView, RunView


def record_message(view: RecordView) -> scoring_pb2.Record:
    fields = struct_pb2.Struct()
    fields.update(view.fields)
    return scoring_pb2.Record(
        kind=view.kind,
        id=view.id,
        unit=view.unit,
        fields=fields,
        voided=view.voided,
        void_reason=view.void_reason,
        created_at=view.created_at,
        etag=view.etag,
    )


def struct_fields(message: struct_pb2.Struct) -> dict[str, Any]:
    """A record's fields as sent; a NaN or an Infinity (no JSON number) is refused naming them."""
    try:
        return dict(json_format.MessageToDict(message))
    except ValueError:
        raise InvalidArgument("fields", "holds a number that is not finite (NaN or Infinity)") from None


def application_message(view: ApplicationView) -> scoring_pb2.Application:
    values = {k: v for k, v in view.__dict__.items() if k != "timeline"}
    return scoring_pb2.Application(**values, timeline=[scoring_pb2.TimelineEvent(**e) for e in view.timeline])


def appeal_message(view: AppealView) -> scoring_pb2.Appeal:
    values = {k: v for k, v in view.__dict__.items() if k != "timeline"}
    return scoring_pb2.Appeal(**values, timeline=[scoring_pb2.TimelineEvent(**e) for e in view.timeline])


def run_message(view: RunView) -> scoring_pb2.Run:
    return scoring_pb2.Run(**view.__dict__)


@refuse_nul
class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """The annual assessment over gRPC."""

    def __init__(self, app: ScoringApp, files: AttachmentStore | None = None) -> None:
        self.app = app
        self.attachments = scoring_desk(app, files) if files is not None else None

    def GetScheme(self, request: Any, context: grpc.ServicerContext) -> Any:
        scheme = self.app.scheme_by_sha(request.sha256)
        return scoring_pb2.Scheme(
            id=scheme.id,
            name=scheme.name,
            year=scheme.year,
            sha256=scheme.sha256,
            timezone=scheme.timezone,
            toml=scheme.text,
        )

    def CreateRecord(self, request: Any, context: grpc.ServicerContext) -> Any:
        fields = struct_fields(request.fields)
        return record_message(
            self.app.create_record(
                actor=current_identity(), request_id=request.request_id, kind=request.kind, fields=fields
            )
        )

    def ListRecords(self, request: Any, context: grpc.ServicerContext) -> Any:
        views, token = self.app.list_records(
            actor=current_identity(),
            kind=request.kind,
            unit=request.unit,
            year=request.year,
            include_voided=request.include_voided,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListRecordsResponse(
            records=[record_message(v) for v in views], next_page_token=token
        )

    def VoidRecord(self, request: Any, context: grpc.ServicerContext) -> Any:
        return record_message(
            self.app.void_record(
                actor=current_identity(),
                request_id=request.request_id,
                kind=request.kind,
                rid=request.id,
                reason=request.reason,
            )
        )

    def DecideAppeal(self, request: Any, context: grpc.ServicerContext) -> Any:
        return record_message(
            self.app.decide_appeal(
                actor=current_identity(),
                request_id=request.request_id,
                rid=request.id,
                upheld=request.upheld,
                reason=request.reason,
            )
        )

    def FileApplication(self, request: Any, context: grpc.ServicerContext) -> Any:
        return application_message(
            self.app.workflow.file(
                actor=current_identity(),
                request_id=request.request_id,
                app_id=request.id,
                unit=request.unit,
                target_type=request.target_type,
                target=request.target,
                reason=request.reason,
            )
        )

    def DecideApplication(self, request: Any, context: grpc.ServicerContext) -> Any:
        return application_message(
            self.app.workflow.decide(
                actor=current_identity(),
                request_id=request.request_id,
                app_id=request.id,
                decision=request.decision,
                reason=request.reason,
            )
        )

    def ListApplications(self, request: Any, context: grpc.ServicerContext) -> Any:
        views, token = self.app.workflow.list_applications(
            actor=current_identity(),
            unit=request.unit,
            year=request.year,
            state=request.state,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListApplicationsResponse(
            applications=[application_message(v) for v in views], next_page_token=token
        )

    def ListAppeals(self, request: Any, context: grpc.ServicerContext) -> Any:
        views, token = self.app.workflow.list_appeals(
            actor=current_identity(),
            unit=request.unit,
            year=request.year,
            state=request.state,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListAppealsResponse(
            appeals=[appeal_message(v) for v in views], next_page_token=token
        )

    def ImportRecords(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
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
                for item in message.pending_tasks:
                    task_id, lead, co = [*item.split("/", 2), "", ""][:3]
                    pending_tasks[task_id] = (lead, [c for c in co.split(",") if c])
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

    def CommitImport(self, request: Any, context: grpc.ServicerContext) -> Any:
        applied = self.app.staged.commit(_import_id(request.import_id))
        return scoring_pb2.ImportDecisionResponse(applied=applied)

    def AbortImport(self, request: Any, context: grpc.ServicerContext) -> Any:
        applied = self.app.staged.abort(_import_id(request.import_id))
        return scoring_pb2.ImportDecisionResponse(applied=applied)

    def CreateRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        return run_message(
            self.app.create_run(
                actor=current_identity(),
                request_id=request.request_id,
                year=request.year,
                as_of=request.as_of,
                scheme_toml=request.scheme_toml,
                supersedes=request.supersedes,
                breakdown=not request.omit_breakdown,
            )
        )

    def GetRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        return run_message(
            self.app.get_run(
                actor=current_identity(),
                run_id=request.id,
                year=request.year,
                unit=request.unit,
                breakdown=not request.omit_breakdown,
            )
        )

    def ListRuns(self, request: Any, context: grpc.ServicerContext) -> Any:
        views, token = self.app.list_runs(
            actor=current_identity(),
            year=request.year,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return scoring_pb2.ListRunsResponse(runs=[run_message(v) for v in views], next_page_token=token)

    def PublishRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        return run_message(
            self.app.publish_run(
                actor=current_identity(), request_id=request.request_id, run_id=request.id, etag=request.etag
            )
        )

    def FinalizeRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        return run_message(
            self.app.finalize_run(
                actor=current_identity(), request_id=request.request_id, run_id=request.id, etag=request.etag
            )
        )

    def PreviewAssessment(self, request: Any, context: grpc.ServicerContext) -> Any:
        document = self.app.preview(
            actor=current_identity(), year=request.year, as_of=request.as_of, unit=request.unit
        )
        return scoring_pb2.PreviewAssessmentResponse(document_json=json.dumps(document, ensure_ascii=False))

    def ExportRecords(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        for lines in record_lines(self.app.db):
            yield scoring_pb2.LedgerLines(lines=lines)

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> Any:
        return scoring_pb2.Version(sequence=self.app.db.sequence(), scheme_sha256=self.app.scheme.sha256)

    def UploadAttachment(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return attachment_rpc.upload(self.attachments, scoring_pb2, request_iterator)

    def ListAttachments(self, request: Any, context: grpc.ServicerContext) -> Any:
        return attachment_rpc.list_of(self.attachments, scoring_pb2, request)

    def DownloadAttachment(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return attachment_rpc.download(self.attachments, scoring_pb2, request)


def _import_id(value: str) -> str:
    """The gateway's id of a two-service import: present, short and printable."""
    if not value or len(value) > 64 or not value.isprintable():
        raise InvalidArgument("import_id", "must be 1 to 64 printable characters")
    return value
