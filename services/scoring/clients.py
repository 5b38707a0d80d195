"""The tasks service as scoring sees it: units, timeliness facts, task lookups, import outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.auth import SYSTEM
from services.common.clients import Backend
from services.common.errors import InvalidArgument
from services.common.facts import FACT_COLUMNS, empty_facts
from services.common.holiday_notice import HolidayNotice
from services.common.packed import DTYPE_OF_CODE, Column, Strings, concat, unpack
from services.common.paging import every
from services.common.protoenum import enum_code
from services.common.tls import TlsConfig
from services.common.tokens import TokenKeys
from services.common.wiretime import epoch_of, instant
from services.scoring.inputs import FactColumn
from services.scoring.task_ids import TaskIds

SERVICE = "kaohe.tasks.v1.TasksService"


def _dtype(number: int) -> str:
    """The numpy dtype of a PackedDtype value ("" for one this build does not know: unpack refuses it)."""
    return DTYPE_OF_CODE.get(enum_code(tasks_pb2.PackedDtype.DESCRIPTOR, number), "")


class GrpcTasks:
    """TasksPort over the tasks service, with the internal credential and deadlines."""

    def __init__(
        self, target: str, keys: TokenKeys, *, tls: TlsConfig | None = None, timeout: float = 60.0
    ) -> None:
        self.backend = Backend(
            name="tasks",
            target=target,
            service=SERVICE,
            stub_class=tasks_pb2_grpc.TasksServiceStub,
            keys=keys,
            tls=tls,
        )
        # What scoring alone calls (facts, lookups, notices, import outcomes), on the same channel.
        self.internal = tasks_pb2_grpc.TasksInternalServiceStub(self.backend.channel)
        self.timeout = timeout

    def _units(self) -> list[common_pb2.Unit]:
        def call(request: tasks_pb2.ListUnitsRequest) -> tasks_pb2.ListUnitsResponse:
            page: tasks_pb2.ListUnitsResponse = self.backend.stub.ListUnits(
                request, metadata=self.backend.metadata(SYSTEM), timeout=self.timeout
            )
            return page

        return every(call, tasks_pb2.ListUnitsRequest(page_size=5000), lambda page: page.units)

    def units(self) -> list[tuple[str, str, str]]:
        return [(u.id, u.name, u.category) for u in self._units()]

    def below(self, unit: str) -> list[str]:
        """The units whose parent is unit (a 乡镇's 村), as the tasks service holds them."""
        return sorted(u.id for u in self._units() if u.parent == unit)

    def facts(
        self, *, due_from: int, due_before: int, as_of: int, assigned_from: int = 0, assigned_before: int = 0
    ) -> dict[str, FactColumn]:
        """The fact columns of every chunk, concatenated: np.frombuffer over each message, no row loop; the
        task ids as integer codes (TaskIds), a chunk's strings dropped once they are in its buffer."""
        parts: dict[str, list[Column]] = {}
        ids: list[TaskIds] = []
        stream = self.internal.GetTimelinessFacts(
            tasks_pb2.GetTimelinessFactsRequest(
                due_from=instant(due_from),
                due_before=instant(due_before),
                as_of=instant(as_of),
                assigned_from=instant(assigned_from or None),
                assigned_before=instant(assigned_before or None),
            ),
            # A year of a prefecture streams for a while; the run's caller waits for it too.
            metadata=self.backend.metadata(SYSTEM),
            timeout=max(self.timeout, 900.0),
        )
        for chunk in stream:
            for c in chunk.columns:
                column = unpack(c.name, _dtype(c.dtype), c.length, c.data, c.values, c.dictionary)
                if c.length != chunk.rows:
                    raise InvalidArgument(c.name, f"有 {c.length} 行，而这一块有 {chunk.rows} 行")
                if c.name == "task_id" and isinstance(column, Strings):
                    # Task ids are (nearly) all distinct: each chunk's laid in its own buffer, not merged.
                    ids.append(TaskIds.from_dictionary(column.codes, column.values))
                    parts.setdefault(c.name, [])
                else:
                    parts.setdefault(c.name, []).append(column)
        missing = sorted(set(FACT_COLUMNS) - set(parts))
        if missing and parts:
            raise InvalidArgument(missing[0], "时效数据中缺少此项")
        if not parts:
            return dict(empty_facts())
        # Column by column, each one's chunks let go once joined: never every chunk and every column at once.
        columns: dict[str, FactColumn] = {
            name: concat(parts.pop(name)) for name in FACT_COLUMNS if name != "task_id" or not ids
        }
        if ids:
            columns["task_id"] = TaskIds.concat(ids)
        return columns

    def lookup(self, ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        if not ids:
            return {}
        reply = self.internal.LookupTasks(
            tasks_pb2.LookupTasksRequest(ids=list(ids)),
            metadata=self.backend.metadata(SYSTEM),
            timeout=self.timeout,
        )
        return {t.id: (t.lead_unit, list(t.co_units)) for t in reply.tasks}

    def refs(self, ids: Sequence[str]) -> dict[str, tuple[str, list[str], int]]:
        """id → (lead unit, co-units, due instant or 0) of the tasks among ids that exist."""
        if not ids:
            return {}
        reply = self.internal.LookupTasks(
            tasks_pb2.LookupTasksRequest(ids=list(ids)),
            metadata=self.backend.metadata(SYSTEM),
            timeout=self.timeout,
        )
        return {t.id: (t.lead_unit, list(t.co_units), epoch_of(t, "due_at") or 0) for t in reply.tasks}

    def notices(self) -> dict[int, HolidayNotice]:
        """The holiday notices imported into the ledger, by year (kaohe calendar import)."""
        reply = self.internal.ListHolidayNotices(
            tasks_pb2.ListHolidayNoticesRequest(),
            metadata=self.backend.metadata(SYSTEM),
            timeout=self.timeout,
        )
        notices = {n.year: HolidayNotice.from_canonical(n.canonical) for n in reply.notices}
        for n in reply.notices:
            if notices[n.year].sha256 != n.sha256:
                raise InvalidArgument("notices", f"{n.year} 年的放假通知与其摘要不符")
        return notices

    def resolve_import(self, import_id: str) -> str:
        """committed, aborted or pending: what the tasks service decided of the import (see ResolveImport)."""
        return self._resolve(import_id, peek=False)

    def peek_import(self, import_id: str) -> str:
        """What the tasks service has decided of the import, if anything ("undecided"); nothing recorded."""
        return self._resolve(import_id, peek=True)

    def _resolve(self, import_id: str, *, peek: bool) -> str:
        reply = self.internal.ResolveImport(
            tasks_pb2.ResolveImportRequest(import_id=import_id, peek=peek),
            metadata=self.backend.metadata(SYSTEM),
            timeout=self.timeout,
        )
        return enum_code(tasks_pb2.ImportOutcome.DESCRIPTOR, reply.outcome)

    def close(self) -> None:
        self.backend.close()
