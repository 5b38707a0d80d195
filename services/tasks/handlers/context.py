"""What every handler of the tasks service works with: the database, the clock, the scheme, the audit."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Connection

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.calendar import WorkCalendar
from services.common.db import Database
from services.common.idempotency import once
from services.common.scheme import Scheme
from services.tasks.storage.tables import requests

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


class Write(Protocol):
    """A write command: who asks, and the caller's id of this request (AIP-155)."""

    @property
    def actor(self) -> Identity: ...

    @property
    def request_id(self) -> str: ...


def _seconds() -> int:
    return int(time.time())


@dataclass
class TasksContext:
    """The tasks service's database and audit trail, its clock, and the scheme it serves now.

    The scheme changes when a holiday notice is imported (use_scheme): every handler reads it here.
    """

    db: Database
    scheme: Scheme
    audit: AuditTrail
    clock: Callable[[], int] = _seconds
    calendar: WorkCalendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = self.scheme.calendar()

    @property
    def tz(self) -> tzinfo:
        return self.scheme.tz

    def use_scheme(self, scheme: Scheme) -> None:
        """Serves scheme from now on, with its calendar."""
        self.scheme = scheme
        self.calendar = scheme.calendar()

    def once(
        self,
        command: Write,
        method: str,
        request: Mapping[str, Any],
        work: Callable[[Connection], V],
        *,
        view: type[V],
        target: Callable[[V], str],
        decode: Callable[[bytes], V] | None = None,
    ) -> V:
        """work once per caller, method and request id of command (AIP-155), audited in its transaction; a
        repeat gets the first answer (decode when the view holds other dataclasses)."""
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
            decode=decode,
        )
