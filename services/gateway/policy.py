"""The gateway's view of the one policy table, which tasks and scoring enforce too."""

from services.common.policy import (
    ALL,
    GATEWAY,
    OFFICE,
    POLICY,
    READERS,
    SCORING,
    SUPERVISION,
    TASKS,
    UNIT_WORK,
    Rule,
    authorize,
    scoped_unit,
)

__all__ = [
    "ALL",
    "GATEWAY",
    "OFFICE",
    "POLICY",
    "READERS",
    "SCORING",
    "SUPERVISION",
    "TASKS",
    "UNIT_WORK",
    "Rule",
    "authorize",
    "scoped_unit",
]
