"""The timeliness facts' columns on the wire (kaohe.tasks.v1.TimelinessFacts): tasks sends, scoring reads."""

from __future__ import annotations

import numpy as np

from services.common.packed import Strings

# One row per (task, involved unit), in this order in every chunk; the message names each column too.
FACT_COLUMNS = (
    "task_id",
    "unit",
    "is_lead",
    "priority",
    "assigned_at",
    "due_at",
    "reported_at",
    "cancelled_at",
    "task_type",
    "due_given",
    # The due in force at as_of is an extension's (延期); the report that counts has a verify after it.
    "extended",
    "verified",
)
# The columns that travel dictionary-encoded (few distinct values).
FACT_STRINGS = frozenset({"unit", "priority", "task_type"})


def empty_facts() -> dict[str, np.ndarray | Strings]:
    """The fact columns of no task."""
    out: dict[str, np.ndarray | Strings] = {}
    for name in FACT_COLUMNS:
        if name in FACT_STRINGS:
            out[name] = Strings(np.zeros(0, np.int32), [])
        elif name == "task_id":
            out[name] = np.zeros(0, dtype=object)
        else:
            flags = ("is_lead", "due_given", "extended", "verified")
            out[name] = np.zeros(0, dtype=bool if name in flags else np.int64)
    return out
