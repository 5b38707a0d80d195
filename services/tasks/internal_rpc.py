"""TasksInternalService servicer: what only the gateway and scoring call (imports, exports, facts)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.change_watch import ChangeWatch
from services.common.facts import FACT_COLUMNS
from services.common.messages import refuse_nul
from services.common.packed import DTYPE_CODES, pack
from services.common.protoenum import enum_number
from services.common.rpc import current_identity
from services.common.wiretime import epoch_of, instant
from services.tasks.export import ledger_lines
from services.tasks.use_cases import TasksApp


def packed_column(name: str, column: object) -> tasks_pb2.PackedColumn:
    """One fact column as its message: the numpy dtype as a PackedDtype value."""
    packed = pack(name, column)  # type: ignore[arg-type]
    fields = packed.fields()
    fields["dtype"] = enum_number(tasks_pb2.PackedDtype.DESCRIPTOR, DTYPE_CODES[packed.dtype], field="dtype")
    return tasks_pb2.PackedColumn(**fields)


@refuse_nul
class TasksInternalServicer(tasks_pb2_grpc.TasksInternalServiceServicer):
    """The ledger's internal methods over gRPC (the internal hop has authorised the calling service)."""

    def __init__(self, app: TasksApp, watch: ChangeWatch) -> None:
        self.app = app
        self.watch = watch

    def ImportLedger(
        self, request_iterator: Iterator[tasks_pb2.ImportLedgerRequest], context: grpc.ServicerContext
    ) -> tasks_pb2.ImportLedgerResponse:
        messages = iter(request_iterator)
        first = next(messages, None)
        validate_only = first.validate_only if first is not None else False
        import_id = first.import_id if first is not None else ""
        # The lines are checked batch by batch as they arrive: the file is never held here.
        batches = (
            [(line.line, line.json) for line in message.lines]
            for message in itertools.chain([first] if first is not None else [], messages)
        )
        try:
            if import_id and not validate_only:
                # Before the rest of the stream arrives: recovery waits for a half on its way.
                self.app.importer.begin(import_id)
            created, unchanged = self.app.importer.import_ledger(
                batches, validate_only=validate_only, actor=current_identity(), import_id=import_id
            )
        finally:
            if import_id:
                self.app.importer.decisions.ended(import_id)
        return tasks_pb2.ImportLedgerResponse(created=dict(created), unchanged=dict(unchanged))

    def ResolveImport(
        self, request: tasks_pb2.ResolveImportRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ResolveImportResponse:
        decisions = self.app.importer.decisions
        outcome = decisions.peek(request.import_id) if request.peek else decisions.resolve(request.import_id)
        return tasks_pb2.ResolveImportResponse(
            outcome=enum_number(tasks_pb2.ImportOutcome.DESCRIPTOR, outcome, field="outcome")  # type: ignore[arg-type]
        )

    def LookupTasks(
        self, request: tasks_pb2.LookupTasksRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.LookupTasksResponse:
        rows = self.app.lookup_tasks(list(request.ids))
        return tasks_pb2.LookupTasksResponse(
            tasks=[
                tasks_pb2.TaskRef(
                    id=r.id, lead_unit=r.lead_unit, co_units=list(r.co_units), due_at=instant(r.due_at)
                )
                for r in rows
            ]
        )

    def GetTimelinessFacts(
        self, request: tasks_pb2.GetTimelinessFactsRequest, context: grpc.ServicerContext
    ) -> Iterator[tasks_pb2.GetTimelinessFactsResponse]:
        for columns in self.app.facts.timeliness_facts(
            due_from=epoch_of(request, "due_from") or 0,
            due_before=epoch_of(request, "due_before") or 0,
            as_of=epoch_of(request, "as_of") or 0,
            chunk_size=request.chunk_size,
            assigned_from=epoch_of(request, "assigned_from") or 0,
            assigned_before=epoch_of(request, "assigned_before") or 0,
        ):
            rows = len(next(iter(columns.values())))
            # In the contract's order: a column missing from a chunk is a bug here, not a gap there.
            packed = [packed_column(name, columns[name]) for name in FACT_COLUMNS]
            yield tasks_pb2.GetTimelinessFactsResponse(rows=rows, columns=packed)

    def WatchVersion(
        self, request: tasks_pb2.WatchVersionRequest, context: grpc.ServicerContext
    ) -> Iterator[tasks_pb2.WatchVersionResponse]:
        def read() -> tuple[tasks_pb2.WatchVersionResponse, float]:
            sequence, next_change, at = self.app.facts.version()
            version = tasks_pb2.GetVersionResponse(
                sequence=sequence, next_change=instant(next_change or None), at=instant(at)
            )
            return tasks_pb2.WatchVersionResponse(version=version), next_change

        # A new message when the sequence or the next change moved, not for the clock alone.
        yield from self.watch.follow(
            context, read, key=lambda reply: (reply.version.sequence, reply.version.next_change.seconds)
        )

    def ListHolidayNotices(
        self, request: tasks_pb2.ListHolidayNoticesRequest, context: grpc.ServicerContext
    ) -> tasks_pb2.ListHolidayNoticesResponse:
        return tasks_pb2.ListHolidayNoticesResponse(
            notices=[
                tasks_pb2.HolidayNotice(year=n.year, canonical=n.canonical, sha256=n.sha256)
                for n in self.app.holidays.notices()
            ]
        )

    def ExportLedger(
        self, request: tasks_pb2.ExportLedgerRequest, context: grpc.ServicerContext
    ) -> Iterator[tasks_pb2.ExportLedgerResponse]:
        for lines in ledger_lines(self.app.db, self.app.tz):
            yield tasks_pb2.ExportLedgerResponse(lines=lines)
