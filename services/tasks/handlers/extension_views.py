"""延期申请 as people see them: the request's view and timeline, and due instants as people write them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from services.common import ranges
from services.common.errors import InvalidArgument
from services.common.timeutil import from_epoch, iso
from services.common.vocabulary import EXTENSION_STATES

MAX_PAGE = 1000
# Extension request ids are made here (YQ2026-001) or given by the caller: a plain, URL-safe alphabet.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DATE = re.compile(
    r"^\s*(\d{4})\s*(?:[-/.年])\s*(\d{1,2})\s*(?:[-/.月])\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T|\s*)(\d{1,2})\s*[:：时点]\s*(?:(\d{1,2})\s*分?)?\s*(?:[:：]\s*(\d{1,2})\s*秒?)?)?\s*$"
)
DECISION_ALIASES = {"approve": "approved", "refuse": "refused", "同意": "approved", "不同意": "refused"}
EXAMPLE = "2026-12-20、2026-12-20 18:00、2026年12月20日18时 或 2026-12-20T18:00:00+08:00"


def parse_due(text: str, *, tz: tzinfo, field_name: str = "due_at") -> datetime:
    """A due instant as people write it: a day (its 23:59:59, as a computed due is), or a day and a time.

    Local times are in the scheme's zone; an ISO 8601 time with an offset is taken as it is.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidArgument(field_name, f"请填写办结时限，如 {EXAMPLE}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None and len(text) > 10:
        moment = parsed
    else:
        found = _DATE.match(text)
        if found is None:
            raise InvalidArgument(field_name, f"“{text}”不是可识别的时间；请写成 {EXAMPLE}")
        year, month, day, hour, minute, second = (int(g) if g else None for g in found.groups())
        assert year is not None and month is not None and day is not None
        try:
            if hour is None:
                moment = datetime(year, month, day, 23, 59, 59, tzinfo=tz)
            else:
                moment = datetime(year, month, day, hour, minute or 0, second or 0, tzinfo=tz)
        except ValueError:
            raise InvalidArgument(field_name, f"“{text}”不是有效的日期或时间") from None
    if not ranges.YEAR_MIN <= moment.year <= ranges.YEAR_MAX:
        raise InvalidArgument(field_name, f"“{text}”不在 {ranges.YEAR_MIN}–{ranges.YEAR_MAX} 年之间")
    return moment


def people_time(seconds: int | None, tz: tzinfo) -> str:
    """2026-12-20 18:00, as a person writes an instant; empty for none."""
    return "" if seconds is None else f"{from_epoch(seconds, tz):%Y-%m-%d %H:%M}"


@dataclass
class ExtensionView:
    """A request as both sides see it: what was asked, what became of it, and its timeline."""

    id: str
    task_id: str
    task_title: str
    unit: str
    reason: str
    asked_due: str
    due_before: str
    state: str
    state_label: str
    granted_due: str
    decision_reason: str
    filed_at: str
    decided_at: str
    etag: str
    timeline: list[dict[str, str]] = field(default_factory=list)


def extension_view(row: Any, tz: tzinfo) -> ExtensionView:
    """A stored request (with its task's title) as both sides see it."""
    timeline = [
        {
            "event": "filed",
            "at": iso(row.filed_at, tz),
            "actor": row.filed_by,
            "actor_role": row.filed_role,
            "actor_unit": row.filed_unit,
            "outcome": "",
            "reason": row.reason,
            "due_at": iso(row.asked_due, tz),
        }
    ]
    if row.decided_at is not None:
        timeline.append(
            {
                "event": "decided",
                "at": iso(row.decided_at, tz),
                "actor": row.decided_by,
                "actor_role": row.decided_role,
                "actor_unit": row.decided_unit,
                "outcome": row.state,
                "reason": row.decision_reason,
                "due_at": iso(row.granted_due, tz),
            }
        )
    return ExtensionView(
        id=row.id,
        task_id=row.task_id,
        task_title=row.task_title,
        unit=row.unit,
        reason=row.reason,
        asked_due=iso(row.asked_due, tz),
        due_before=iso(row.due_before, tz),
        state=row.state,
        state_label=EXTENSION_STATES.get(row.state, row.state),
        granted_due=iso(row.granted_due, tz),
        decision_reason=row.decision_reason,
        filed_at=iso(row.filed_at, tz),
        decided_at=iso(row.decided_at, tz),
        etag=f'"{row.version}"',
        timeline=timeline,
    )
