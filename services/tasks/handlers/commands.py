"""The commands of the tasks service: what each use case is asked, as the caller asked it."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.auth import Identity
from services.tasks.domain import Kind


@dataclass(frozen=True)
class CreateTask:
    """立项 (and 交办 at once when assign_now): a new task, its id made here when none is given."""

    actor: Identity
    request_id: str
    task_id: str
    title: str
    task_type: str
    lead_unit: str
    co_units: list[str]
    priority: str
    source: str
    due_at: str
    assign_now: bool
    note: str
    # responsible / leader / parent as given (empty ones left out).
    people_and_parent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActOnTask:
    """One step of the closed loop on a task; an extend (延期, the office only) carries its new due."""

    actor: Identity
    kind: Kind
    task_id: str
    etag: str
    note: str
    request_id: str
    due_at: str = ""


@dataclass(frozen=True)
class GetTask:
    """One task with its history and parts, as of an instant (now when empty)."""

    actor: Identity
    task_id: str
    as_of: str = ""


@dataclass(frozen=True)
class ListTasks:
    """A page of the tasks the actor may see, filtered."""

    actor: Identity
    unit: str = ""
    state: str = ""
    color: str = ""
    task_type: str = ""
    year: int = 0
    overdue: bool = False
    as_of: str = ""
    page_size: int = 0
    page_token: str = ""
    title: str = ""
    order: str = ""  # "" by id, "reported_at" the oldest report first


@dataclass(frozen=True)
class FileExtension:
    """延期申请: the lead unit (or the office for it) asks for a later due instant."""

    actor: Identity
    request_id: str
    ext_id: str
    task_id: str
    due_at: str
    reason: str


@dataclass(frozen=True)
class DecideExtension:
    """The office approves (with the asked or another due instant) or refuses a pending request."""

    actor: Identity
    request_id: str
    ext_id: str
    decision: str
    due_at: str
    reason: str


@dataclass(frozen=True)
class ListExtensions:
    """A page of extension requests in the order filed; a department's own unit's only."""

    actor: Identity
    unit: str
    state: str
    task_id: str
    year: int
    page_size: int
    page_token: str


@dataclass(frozen=True)
class ImportLedger:
    """A ledger file's lines, a batch at a time, imported all or nothing (or only checked)."""

    actor: Identity
    validate_only: bool
    # The tasks half of a two-service import ("" for none): its decision is written in the same transaction.
    import_id: str = ""
