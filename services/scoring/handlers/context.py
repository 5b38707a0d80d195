"""What every handler is given: the database, the clock, the served scheme, the audit trail, the tasks."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.db import Database
from services.common.errors import NotFound, PermissionDenied
from services.common.idempotency import once
from services.common.scheme import Scheme, load_scheme
from services.common.text import ID_MAX, check_id
from services.scoring.inputs import TasksPort
from services.scoring.storage import repository as repo
from services.scoring.storage.tables import requests
from services.scoring.views import AppealView, ApplicationView, RecordView, RunView, stored_view

V = TypeVar("V", RecordView, RunView, ApplicationView, AppealView)

MAX_PAGE = 5000


class Write(Protocol):
    """A write's command: who asks, under which request id (AIP-155)."""

    @property
    def actor(self) -> Identity: ...

    @property
    def request_id(self) -> str: ...


@dataclass(frozen=True)
class Context:
    """The scoring service's collaborators, shared by its handlers."""

    db: Database
    scheme: Scheme
    tasks: TasksPort
    audit: AuditTrail
    # The instant, in epoch seconds, every rule about "now" reads (appeal windows, publication).
    clock: Callable[[], int]
    # Told of each run made, publicised or finalised: (state, seconds its computation took).
    on_run: Callable[[str, float], None]
    # The served scheme, or a stored one a run was made under, by its SHA-256 (stored_scheme).
    scheme_by_sha: Callable[[str], Scheme]

    @property
    def tz(self) -> tzinfo:
        return self.scheme.tz

    def once(
        self,
        command: Write,
        method: str,
        request: Mapping[str, Any],
        work: Callable[[Connection], V],
        *,
        view: type[V],
        target: Callable[[V], str],
        attempts: int = 1,
    ) -> V:
        """work once per caller, method and request id of command (AIP-155), audited in its transaction."""
        return once(
            self.db,
            requests,
            self.audit,
            caller=command.actor,
            method=method,
            request_id=command.request_id,
            request=request,
            work=work,
            view=view,
            target=target,
            # A run answered before results travelled as messages kept its document as JSON text.
            decode=lambda data: stored_view(view, json.loads(data)),
            attempts=attempts,
        )


def stored_scheme(db: Database, served: Scheme, sha: str) -> Scheme:
    """The served scheme (sha empty or its own), or the stored one with that SHA-256."""
    if not sha or sha == served.sha256:
        return served
    with db.read() as conn:
        text = repo.scheme_text(conn, sha)
    if text is None:
        raise NotFound(f"方案 {sha} 未存储")
    return load_scheme(text)


def own_unit(actor: Identity, unit: str, what: str) -> str:
    """The unit a read is narrowed to: a department's own (another refused), else unit as asked."""
    if actor.is_department:
        if unit and unit != actor.unit:
            raise PermissionDenied(f"单位 {actor.unit} 不能{what}（单位 {unit}）")
        return actor.unit
    return unit


def scoped_unit(actor: Identity, unit: str, what: str) -> str:
    """own_unit, a unit the office names checked as an id."""
    unit = own_unit(actor, unit, what)
    if unit and not actor.is_department:
        check_id("unit", unit, max_len=ID_MAX)
    return unit
