"""容错 applications and appeals as the servicer reaches them: `ScoringApp.workflow`, and their views.

A thin facade: each method builds its command and hands it to its handler (handlers/applications.py,
handlers/appeals.py) with the service's Context.
"""

from __future__ import annotations

from services.common.auth import Identity
from services.scoring.commands import DecideApplication, FileApplication, ListAppeals, ListApplications
from services.scoring.handlers import appeals, applications
from services.scoring.handlers.context import Context
from services.scoring.views import AppealView, ApplicationView

__all__ = ["AppealView", "ApplicationView", "Workflow"]


class Workflow:
    """Appeals and 容错 applications of the scoring service."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def file(
        self,
        *,
        actor: Identity,
        request_id: str,
        app_id: str,
        unit: str,
        target_type: str,
        target: str,
        reason: str,
    ) -> ApplicationView:
        """A 容错 application, pending, by a department for its unit (or by the office for a unit)."""
        command = FileApplication(actor, request_id, app_id, unit, target_type, target, reason)
        return applications.file_application(self.context, command)

    def decide(
        self, *, actor: Identity, request_id: str, app_id: str, decision: str, reason: str
    ) -> ApplicationView:
        """The office's decision; exempt or mitigate is stored as the tolerance record of the same id."""
        command = DecideApplication(actor, request_id, app_id, decision, reason)
        return applications.decide_application(self.context, command)

    def list_applications(
        self, *, actor: Identity, unit: str, year: int, state: str, page_size: int, page_token: str
    ) -> tuple[list[ApplicationView], str]:
        query = ListApplications(actor, unit, year, state, page_size, page_token)
        return applications.list_applications(self.context, query)

    def list_appeals(
        self, *, actor: Identity, unit: str, year: int, state: str, page_size: int, page_token: str
    ) -> tuple[list[AppealView], str]:
        """Appeals with their states and timelines, a department's own only; a page may hold fewer."""
        query = ListAppeals(actor, unit, year, state, page_size, page_token)
        return appeals.list_appeals(self.context, query)
