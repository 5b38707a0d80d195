"""延期申请: the desk the servicer calls, each method a command to its handler (handlers/extensions.py).

The request's view and the due instants as people write them live in handlers/extension_views.py and are
named here too, where their callers find them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.common.auth import Identity
from services.tasks.handlers import extensions as handle
from services.tasks.handlers.commands import DecideExtension, FileExtension, ListExtensions
from services.tasks.handlers.extension_views import (
    EXAMPLE,
    ID_PATTERN,
    MAX_PAGE,
    ExtensionView,
    extension_view,
    parse_due,
    people_time,
)

if TYPE_CHECKING:
    from services.tasks.use_cases import TasksApp

__all__ = [
    "EXAMPLE",
    "ID_PATTERN",
    "MAX_PAGE",
    "ExtensionDesk",
    "ExtensionView",
    "extension_view",
    "parse_due",
    "people_time",
]


class ExtensionDesk:
    """Filing, deciding and listing extension requests, over the tasks service's context."""

    def __init__(self, app: TasksApp) -> None:
        self.app = app

    def file(
        self, *, actor: Identity, request_id: str, ext_id: str, task_id: str, due_at: str, reason: str
    ) -> ExtensionView:
        command = FileExtension(actor, request_id, ext_id, task_id, due_at, reason)
        return handle.file_extension(self.app.context, command)

    def decide(
        self, *, actor: Identity, request_id: str, ext_id: str, decision: str, due_at: str, reason: str
    ) -> ExtensionView:
        command = DecideExtension(actor, request_id, ext_id, decision, due_at, reason)
        return handle.decide_extension(self.app.context, command)

    def list_requests(
        self,
        *,
        actor: Identity,
        unit: str,
        state: str,
        task_id: str,
        year: int,
        page_size: int,
        page_token: str,
    ) -> tuple[list[ExtensionView], str]:
        query = ListExtensions(actor, unit, state, task_id, year, page_size, page_token)
        return handle.list_extensions(self.app.context, query)
