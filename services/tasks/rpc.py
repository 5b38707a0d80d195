"""TasksService servicer: protobuf in, use case, protobuf out — nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common import attachment_rpc
from services.common.attachments import AttachmentStore
from services.common.errors import InvalidArgument
from services.common.messages import refuse_nul
from services.common.rpc import current_identity
from services.common.wiretime import instant
from services.tasks import extensions, people, wire
from services.tasks.attachments import history, task_desk
from services.tasks.domain import Kind
from services.tasks.trend import OverdueTrend
from services.tasks.use_cases import TasksApp

# The requests of the closed loop's steps: each its own message, all with the same fields.
ActionRequest = (
    tasks_pb2.AssignTaskRequest
    | tasks_pb2.AcceptTaskRequest
    | tasks_pb2.ReportProgressRequest
    | tasks_pb2.ReportTaskRequest
    | tasks_pb2.VerifyTaskRequest
    | tasks_pb2.RejectTaskRequest
    | tasks_pb2.CloseTaskRequest
    | tasks_pb2.CancelTaskRequest
)


@refuse_nul
class TasksServicer(tasks_pb2_grpc.TasksServiceServicer):
    """The supervision ledger over gRPC."""

    def __init__(self, app: TasksApp, files: AttachmentStore | None = None) -> None:
        self.app = app
        self.attachments = task_desk(app, files) if files is not None else None
        self.overdue = OverdueTrend(app.facts.db, app.facts.tz, version=app.facts.version)
        self.extensions = extensions.ExtensionDesk(app)

    def ListUnits(
        self, request: tasks_pb2.ListUnitsRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListUnitsResponse:
        rows, token = self.app.list_units(
            category=request.category, page_size_=request.page_size, page_token=request.page_token
        )
        parents = self.app.unit_parents([i for i, _, _ in rows])
        return wire.units_message(rows, parents, token)

    def GetTask(
        self, request: tasks_pb2.GetTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.GetTaskResponse:
        view = self.app.get_task(actor=current_identity(), task_id=request.id)
        if self.attachments is not None:
            # Its attachments are part of what happened to it: one history, in time order.
            view.history = sorted(
                view.history + history(self.app, self.attachments, view.id),
                key=lambda e: (e.at, e.kind == "attachment"),
            )
        return tasks_pb2.GetTaskResponse(task=wire.task_message(view))

    def ListTasks(
        self, request: tasks_pb2.ListTasksRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListTasksResponse:
        views, token, at, total = self.app.list_tasks(
            actor=current_identity(),
            unit=request.unit,
            state=wire.request_code(common_pb2.TaskState.DESCRIPTOR, request.state, "state"),
            color=wire.request_code(common_pb2.TaskColor.DESCRIPTOR, request.color, "color"),
            task_type=request.task_type,
            year=request.year,
            overdue=request.overdue,
            as_of=wire.view_text(request, "as_of", self.app.tz),
            page_size_=request.page_size,
            page_token=request.page_token,
            title=request.title,
            order=wire.request_code(tasks_pb2.TaskOrder.DESCRIPTOR, request.order, "order"),
        )
        return tasks_pb2.ListTasksResponse(
            tasks=[wire.task_message(v) for v in views],
            next_page_token=token,
            as_of=instant(at),
            total_size=total,
        )

    def CreateTask(
        self, request: tasks_pb2.CreateTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.CreateTaskResponse:
        view = self.app.create_task(
            actor=current_identity(),
            request_id=request.request_id,
            task_id=request.id,
            title=request.title,
            task_type=request.task_type,
            lead_unit=request.lead_unit,
            co_units=list(request.co_units),
            priority=request.priority,
            source=request.source,
            due_at=wire.view_text(request, "due_at", self.app.tz),
            assign_now=request.assign_now,
            note=request.note,
            people_and_parent={
                "responsible": request.responsible,
                "leader": request.leader,
                "parent": request.parent,
            },
        )
        return tasks_pb2.CreateTaskResponse(task=wire.task_message(view))

    def _act(self, kind: Kind, request: ActionRequest) -> tasks_pb2.Task:
        if not request.id:
            raise InvalidArgument("id", "必须填写")
        return wire.task_message(
            self.app.act(
                actor=current_identity(),
                kind=kind,
                task_id=request.id,
                etag=request.etag,
                note=request.note,
                request_id=request.request_id,
            )
        )

    def AssignTask(
        self, request: tasks_pb2.AssignTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.AssignTaskResponse:
        return tasks_pb2.AssignTaskResponse(task=self._act(Kind.ASSIGN, request))

    def AcceptTask(
        self, request: tasks_pb2.AcceptTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.AcceptTaskResponse:
        return tasks_pb2.AcceptTaskResponse(task=self._act(Kind.ACCEPT, request))

    def ReportProgress(
        self, request: tasks_pb2.ReportProgressRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ReportProgressResponse:
        return tasks_pb2.ReportProgressResponse(task=self._act(Kind.PROGRESS, request))

    def ReportTask(
        self, request: tasks_pb2.ReportTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ReportTaskResponse:
        return tasks_pb2.ReportTaskResponse(task=self._act(Kind.REPORT, request))

    def VerifyTask(
        self, request: tasks_pb2.VerifyTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.VerifyTaskResponse:
        return tasks_pb2.VerifyTaskResponse(task=self._act(Kind.VERIFY, request))

    def RejectTask(
        self, request: tasks_pb2.RejectTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.RejectTaskResponse:
        return tasks_pb2.RejectTaskResponse(task=self._act(Kind.REJECT, request))

    def CloseTask(
        self, request: tasks_pb2.CloseTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.CloseTaskResponse:
        return tasks_pb2.CloseTaskResponse(task=self._act(Kind.CLOSE, request))

    def CancelTask(
        self, request: tasks_pb2.CancelTaskRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.CancelTaskResponse:
        return tasks_pb2.CancelTaskResponse(task=self._act(Kind.CANCEL, request))

    def FileExtension(
        self, request: tasks_pb2.FileExtensionRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.FileExtensionResponse:
        view = self.extensions.file(
            actor=current_identity(),
            request_id=request.request_id,
            ext_id=request.id,
            task_id=request.task_id,
            due_at=request.due_at,
            reason=request.reason,
        )
        return tasks_pb2.FileExtensionResponse(extension=wire.extension_message(view))

    def DecideExtension(
        self, request: tasks_pb2.DecideExtensionRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.DecideExtensionResponse:
        view = self.extensions.decide(
            actor=current_identity(),
            request_id=request.request_id,
            ext_id=request.id,
            decision=request.decision,
            due_at=request.due_at,
            reason=request.reason,
        )
        return tasks_pb2.DecideExtensionResponse(extension=wire.extension_message(view))

    def ListExtensions(
        self, request: tasks_pb2.ListExtensionsRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListExtensionsResponse:
        # The gateway has scoped a department to its unit; held to it here again.
        views, token = self.extensions.list_requests(
            actor=current_identity(),
            unit=request.unit,
            state=wire.request_code(tasks_pb2.ExtensionState.DESCRIPTOR, request.state, "state"),
            task_id=request.task_id,
            year=request.year,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return tasks_pb2.ListExtensionsResponse(
            extensions=[wire.extension_message(v) for v in views], next_page_token=token
        )

    def SummarizeTasks(
        self, request: tasks_pb2.SummarizeTasksRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.SummarizeTasksResponse:
        units = people.units_read(self.app.db, current_identity(), request.unit, what="督办事项")
        as_of = wire.view_text(request, "as_of", self.app.tz)
        summaries, at = self.app.facts.summarize(year=request.year, as_of=as_of, units=units)
        return tasks_pb2.SummarizeTasksResponse(
            units=[wire.summary_message(s) for s in summaries],
            as_of=instant(at),
        )

    def GetOverdueTrend(
        self, request: tasks_pb2.GetOverdueTrendRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.GetOverdueTrendResponse:
        trend_of = "逾期趋势"  # a 乡镇: its line and its 村's
        units = people.units_read(self.app.db, current_identity(), request.unit, what=trend_of)
        period = wire.request_code(tasks_pb2.TrendPeriod.DESCRIPTOR, request.period, "period")
        as_of = wire.view_text(request, "as_of", self.app.tz)
        trend = self.overdue.trend(year=request.year, period=period, as_of=as_of, units=units)
        return wire.trend_message(trend)

    def GetVersion(
        self, request: tasks_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.GetVersionResponse:
        sequence, next_change, at = self.app.facts.version()
        return tasks_pb2.GetVersionResponse(
            sequence=sequence, next_change=instant(next_change or None), at=instant(at)
        )

    def ImportHolidayNotice(
        self, request: tasks_pb2.ImportHolidayNoticeRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ImportHolidayNoticeResponse:
        done = self.app.holidays.import_notice(actor=current_identity(), text=request.text, year=request.year)
        return wire.notice_message(done)

    def GetCalendar(
        self, request: tasks_pb2.GetCalendarRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.GetCalendarResponse:
        year = self.app.holidays.calendar_year(request.year)
        return wire.calendar_message(year)

    def ListPersons(
        self, request: tasks_pb2.ListPersonsRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListPersonsResponse:
        found, at = people.list_persons(
            self.app, actor=current_identity(), unit=request.unit, person_id=request.id
        )
        return tasks_pb2.ListPersonsResponse(
            persons=[wire.person_message(p) for p in found],
            as_of=instant(at),
        )

    def UploadAttachment(
        self, request_iterator: Iterator[tasks_pb2.UploadAttachmentRequest], context: grpc.ServicerContext
    ) -> tasks_pb2.UploadAttachmentResponse:
        made = attachment_rpc.upload(self.attachments, iter(request_iterator))
        return tasks_pb2.UploadAttachmentResponse(attachment=made)

    def ListAttachments(
        self, request: tasks_pb2.ListAttachmentsRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListAttachmentsResponse:
        found = attachment_rpc.list_of(self.attachments, request.item_kind, request.item_id)
        return tasks_pb2.ListAttachmentsResponse(attachments=found)

    def DownloadAttachment(
        self, request: tasks_pb2.DownloadAttachmentRequest, context: grpc.ServicerContext
    ) -> Iterator[tasks_pb2.DownloadAttachmentResponse]:
        for attachment, data in attachment_rpc.download(self.attachments, request.id):
            yield tasks_pb2.DownloadAttachmentResponse(attachment=attachment, data=data)
