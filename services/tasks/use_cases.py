"""The tasks service's use cases behind one facade: each method is a command handed to its handler.

The handlers (services/tasks/handlers) do the work, grouped by aggregate: tasks (create and the closed
loop), reading, extensions and imports. Each write is one transaction, each read one snapshot.
"""

from __future__ import annotations

from typing import Any

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.calendar import WorkCalendar
from services.common.db import Database
from services.common.scheme import Scheme
from services.common.timeutil import iso
from services.tasks.domain import Kind
from services.tasks.facts import TaskFacts
from services.tasks.handlers import reading, tasks
from services.tasks.handlers.commands import ActOnTask, CreateTask, GetTask, ListTasks
from services.tasks.handlers.context import TasksContext
from services.tasks.handlers.views import (
    DEFAULT_PAGE,
    MAX_PAGE,
    EventView,
    TaskView,
    decode_token,
    encode_token,
    page_size,
    task_view,
    with_progress,
)
from services.tasks.holidays import HolidayDesk
from services.tasks.importing import LedgerImport
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import audit

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "EventView",
    "TaskView",
    "TasksApp",
    "decode_token",
    "encode_token",
    "page_size",
]


class TasksApp:
    """Everything the tasks service does, over its database and the scheme it runs with.

    Reading and the closed loop are here; the ledger import is `importer`, the facts for the other
    services `facts`.
    """

    def __init__(self, db: Database, scheme: Scheme) -> None:
        self.db = db
        self.audit = AuditTrail(db, audit)
        self.context = TasksContext(db=db, scheme=scheme, audit=self.audit)
        self.tz = scheme.tz
        self.facts = TaskFacts(db, scheme)
        self.importer = LedgerImport(self.context)
        self.holidays = HolidayDesk(self)

    @property
    def scheme(self) -> Scheme:
        return self.context.scheme

    @property
    def calendar(self) -> WorkCalendar:
        return self.context.calendar

    def use_scheme(self, scheme: Scheme) -> None:
        """Serves scheme from now on: the same scheme under the holiday notices imported since."""
        self.context.use_scheme(scheme)
        self.facts.scheme = scheme

    # ---- reading

    def view_instant(self, at: int) -> str:
        return iso(at, self.tz)

    def task_type_id(self, text: str) -> str:
        """The task type text names by its id or by its name in the scheme; text itself when neither."""
        return reading.task_type_id(self.scheme, text)

    def list_units(
        self, *, category: str, page_size_: int, page_token: str
    ) -> tuple[list[tuple[str, str, str]], str]:
        return reading.list_units(
            self.context, category=category, size_asked=page_size_, page_token=page_token
        )

    def unit_parents(self, ids: list[str]) -> dict[str, str]:
        """id → parent unit ("" when none) of the units among ids."""
        with self.db.read() as conn:
            return repo.unit_parents(conn, ids)

    def view(self, row: repo.TaskRow, *, at: int, events: list[repo.EventRow] | None = None) -> TaskView:
        return task_view(self.context, row, at=at, events=events)

    def with_progress(self, conn: Any, rows: list[repo.TaskRow], *, at: int) -> list[TaskView]:
        """Views of rows with their progress deadlines, reading the history only of tasks that owe reports."""
        return with_progress(self.context, conn, rows, at=at)

    def _readable(self, actor: Identity, row: repo.TaskRow, conn: Any) -> None:
        reading.check_readable(actor, row, conn)

    def get_task(self, *, actor: Identity, task_id: str, as_of: str = "") -> TaskView:
        return reading.get_task(self.context, self.facts, GetTask(actor, task_id, as_of))

    def list_tasks(
        self,
        *,
        actor: Identity,
        unit: str = "",
        state: str = "",
        color: str = "",
        task_type: str = "",
        year: int = 0,
        overdue: bool = False,
        as_of: str = "",
        page_size_: int = 0,
        page_token: str = "",
        title: str = "",
        order: str = "",
    ) -> tuple[list[TaskView], str, int, int]:
        query = ListTasks(
            actor, unit, state, color, task_type, year, overdue, as_of, page_size_, page_token, title, order
        )
        return reading.list_tasks(self.context, self.facts, query)

    def lookup_tasks(self, ids: list[str]) -> list[repo.TaskRow]:
        with self.db.read() as conn:
            return list(repo.tasks_by_id(conn, ids).values())

    # ---- the closed loop

    def create_task(
        self,
        *,
        actor: Identity,
        request_id: str,
        task_id: str,
        title: str,
        task_type: str,
        lead_unit: str,
        co_units: list[str],
        priority: str,
        source: str,
        due_at: str,
        assign_now: bool,
        note: str,
        people_and_parent: dict[str, str] | None = None,
    ) -> TaskView:
        command = CreateTask(
            actor, request_id, task_id, title, task_type, lead_unit, co_units, priority, source, due_at,
            assign_now, note, dict(people_and_parent or {}),
        )  # fmt: skip
        return tasks.create_task(self.context, command)

    def act(
        self,
        *,
        actor: Identity,
        kind: Kind,
        task_id: str,
        etag: str,
        note: str,
        request_id: str,
        due_at: str = "",
    ) -> TaskView:
        """One step of the closed loop; an extend (延期, the office only) carries its new due instant."""
        return tasks.act(self.context, ActOnTask(actor, kind, task_id, etag, note, request_id, due_at))
