"""What each scoring use case is asked: one dataclass per use case, built by the facade (or a servicer).

Writes carry the caller (actor) and the caller's request id (AIP-155); reads carry the caller, whose role
and unit narrow what is shown. The handlers that take them are under services/scoring/handlers/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.common.auth import Identity

# ---- records


@dataclass(frozen=True)
class CreateRecord:
    """One assessment record from a person (an appeal, from a department)."""

    actor: Identity
    request_id: str
    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class VoidRecord:
    """A record voided, with the reason."""

    actor: Identity
    request_id: str
    kind: str
    rid: str
    reason: str


@dataclass(frozen=True)
class ImportRecords:
    """Ledger lines (line number, JSON text), all or nothing; staged under stage_as until it commits."""

    actor: Identity
    lines: Iterable[tuple[int, str]]
    validate_only: bool
    pending_units: set[str]
    pending_tasks: dict[str, tuple[str, list[str]]]
    stage_as: str = ""


@dataclass(frozen=True)
class ListRecords:
    """A page of records, in the order stored."""

    actor: Identity
    kind: str
    unit: str
    year: int
    include_voided: bool
    page_size: int
    page_token: str


# ---- appeals


@dataclass(frozen=True)
class DecideAppeal:
    """The office's decision on an appeal."""

    actor: Identity
    request_id: str
    rid: str
    upheld: bool
    reason: str


@dataclass(frozen=True)
class ListAppeals:
    """A page of appeals with their states and timelines."""

    actor: Identity
    unit: str
    year: int
    state: str
    page_size: int
    page_token: str


# ---- runs


@dataclass(frozen=True)
class CreateRun:
    """A draft run of year as of as_of (empty: the default cutoff), under scheme_toml (empty: the served)."""

    actor: Identity
    request_id: str
    year: int
    as_of: str
    scheme_toml: str
    supersedes: str
    breakdown: bool = True


@dataclass(frozen=True)
class GetRun:
    """One run by id, or the year's latest; narrowed to unit when given."""

    actor: Identity
    run_id: str
    year: int
    unit: str
    breakdown: bool


@dataclass(frozen=True)
class ListRuns:
    """A page of runs, by id."""

    actor: Identity
    year: int
    page_size: int
    page_token: str


@dataclass(frozen=True)
class PublishRun:
    """A draft publicised (公示), at its etag."""

    actor: Identity
    request_id: str
    run_id: str
    etag: str


@dataclass(frozen=True)
class FinalizeRun:
    """A publicised run made final (定档), at its etag."""

    actor: Identity
    request_id: str
    run_id: str
    etag: str


@dataclass(frozen=True)
class Preview:
    """A draft computation as of now (or as_of), stored nowhere."""

    actor: Identity
    year: int
    as_of: str
    unit: str


# ---- 容错 applications


@dataclass(frozen=True)
class FileApplication:
    """A 容错 application on a task or an error report; app_id empty for the next RC<year>-<n>."""

    actor: Identity
    request_id: str
    app_id: str
    unit: str
    target_type: str
    target: str
    reason: str


@dataclass(frozen=True)
class DecideApplication:
    """The office's decision on an application: exempt, mitigate or refused."""

    actor: Identity
    request_id: str
    app_id: str
    decision: str
    reason: str


@dataclass(frozen=True)
class ListApplications:
    """A page of applications with their timelines."""

    actor: Identity
    unit: str
    year: int
    state: str
    page_size: int
    page_token: str
