"""What every handler of the tasks service works with: the database, the clock, the scheme, the audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo

from services.common.audit import AuditTrail
from services.common.calendar import WorkCalendar
from services.common.db import Database
from services.common.scheme import Scheme


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
