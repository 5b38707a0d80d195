"""What the scoring service answers with: a record, a run, an appeal and an application as stored, times
written in the scheme's zone."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from services.common.errors import NotFound
from services.common.timeutil import from_epoch, iso
from services.scoring.task_lines import KEY as TASK_LINES
from services.scoring.task_lines import PartReader, expand_lines


@dataclass
class RunView:
    id: str
    state: str
    year: int
    scheme: str
    scheme_sha256: str
    as_of: str
    input_digest: str
    supersedes: str
    superseded_by: str
    created_at: str
    published_at: str
    finalized_at: str
    appeal_deadline: str
    # The result document (FORMATS.md) filtered to the caller's unit; None in lists.
    document: dict[str, Any] | None
    etag: str
    duration_seconds: float


@dataclass
class RecordView:
    kind: str
    id: str
    unit: str
    fields: dict[str, Any]
    voided: bool
    void_reason: str
    created_at: str
    etag: str


def record_view(row: Any, tz: tzinfo) -> RecordView:
    """A stored record row as the service shows it."""
    return RecordView(
        kind=row.kind,
        id=row.rid,
        unit=row.unit,
        fields=json.loads(row.payload),
        voided=bool(row.voided),
        void_reason=row.void_reason,
        created_at=iso(row.created_at, tz),
        etag=f'"{row.version}"',
    )


def run_view(
    row: Any, tz: tzinfo, *, unit: str, breakdown: bool, with_document: bool, parts: PartReader | None = None
) -> RunView:
    """A stored run row as the service shows it: its document narrowed to one unit or without breakdowns;
    parts reads its task lines (run_lines), only for the breakdowns asked for."""
    document: dict[str, Any] | None = None
    if with_document:
        document = json.loads(row.document)
        document["state"] = row.state
        if "interim" not in document:
            # Runs stored before interim runs were told apart: before the year's last second is interim.
            cutoff = datetime.fromisoformat(document["as_of"])
            document["interim"] = cutoff < datetime(row.year, 12, 31, 23, 59, 59, tzinfo=cutoff.tzinfo)
        # Runs keep their task lines as columns (task_lines); the oldest runs have them in the breakdowns.
        lines = document.pop(TASK_LINES, None)
        positions = list(range(len(document["units"])))
        if unit:
            positions = [j for j in positions if document["units"][j]["unit"] == unit]
            document["units"] = [document["units"][j] for j in positions]
            if not document["units"]:
                raise NotFound(f"考核运行 {row.id} 中没有单位 {unit!r} 的结果")
        if not breakdown:
            for entry in document["units"]:
                entry.pop("breakdown", None)
        elif lines is not None:
            expand_lines(document["units"], lines, positions, parts)
    return RunView(
        id=row.id,
        state=row.state,
        year=row.year,
        scheme=row.scheme_id,
        scheme_sha256=row.scheme_sha256,
        as_of=iso(row.as_of, tz),
        input_digest=row.input_digest,
        supersedes=row.supersedes,
        superseded_by=row.superseded_by,
        created_at=iso(row.created_at, tz),
        published_at=iso(row.published_at, tz),
        finalized_at=iso(row.finalized_at, tz),
        appeal_deadline=iso(row.appeal_deadline, tz),
        document=document,
        etag=f'"{row.version}"',
        duration_seconds=float(row.duration_seconds),
    )


V = TypeVar("V")


def stored_view(view: type[V], data: dict[str, Any]) -> V:
    """A view as an idempotent write stored its answer; a run answered before results travelled as
    messages kept its document as JSON text (document_json)."""
    if view is RunView and "document_json" in data:
        text = data.pop("document_json")
        data["document"] = json.loads(text) if text else None
    return view(**data)


def audit_target(view: RecordView | RunView) -> str:
    """What an audit row names as changed: `error_report=E1`, `run=R…`."""
    return f"{view.kind}={view.id}" if isinstance(view, RecordView) else f"run={view.id}"


def lines_of(document: dict[str, Any], units: Collection[str]) -> dict[str, Any]:
    """The lines of units in a preview (a department's own, a 乡镇's with its 村's), ranks kept, everyone
    else's detail removed."""
    return {**document, "units": [u for u in document["units"] if u["unit"] in units]}


@dataclass
class ApplicationView:
    id: str
    unit: str
    year: int
    target_type: str
    target: str
    reason: str
    state: str
    filed_at: str
    decided_at: str
    decision_reason: str
    etag: str
    timeline: list[dict[str, str]] = field(default_factory=list)


@dataclass
class AppealView:
    id: str
    unit: str
    target_type: str
    target: str
    date: str
    reason: str
    state: str
    decision_reason: str
    voided: bool
    timeline: list[dict[str, str]] = field(default_factory=list)


def timeline_event(row: Any, tz: tzinfo) -> dict[str, str]:
    """A stored step of an appeal's or an application's timeline."""
    return {
        "event": row.event,
        "at": iso(row.at, tz),
        "actor": row.actor,
        "actor_role": row.actor_role,
        "actor_unit": row.actor_unit,
        "outcome": row.outcome,
        "reason": row.reason,
    }


def ledger_event(event: str, at: int, tz: tzinfo, *, outcome: str = "", reason: str = "") -> dict[str, str]:
    """A step that came in with an imported ledger line: no person's token, the ledger its actor."""
    return {
        "event": event,
        "at": iso(at, tz),
        "actor": "ledger",
        "actor_role": "",
        "actor_unit": "",
        "outcome": outcome,
        "reason": reason,
    }


def local_time(seconds: int, tz: tzinfo) -> str:
    """An instant as people read it in the scheme's zone: 2025-05-12 23:59:59."""
    return f"{from_epoch(seconds, tz):%Y-%m-%d %H:%M:%S}"
