"""Time limits of task types, as the scheme states them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LimitUnit = Literal["minutes", "hours", "working_days", "calendar_days", "months"]
LIMIT_UNITS: tuple[str, ...] = ("minutes", "hours", "working_days", "calendar_days", "months")


@dataclass(frozen=True)
class Limit:
    """An amount of a limit unit: 15 minutes, 7 working days, 3 months."""

    amount: int
    unit: LimitUnit
