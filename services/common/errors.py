"""Domain errors: raised by pure code, mapped to gRPC status codes only at the edge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One broken rule: the field (dotted path, or `line 12: due_at`) and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(DomainError):
    """The named resource does not exist."""


class InvalidArgument(DomainError):
    """Bad input: carries one or more field violations."""

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation | str, description: str | None = None
    ):
        if isinstance(violations, str):
            violations = [FieldViolation(violations, description or "无效")]
        elif isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations: list[FieldViolation] = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class SchemeInvalid(InvalidArgument):
    """A scheme (考核方案) breaks a rule of FORMATS.md."""


class FailedPrecondition(DomainError):
    """The resource is in the wrong state for the request."""


class InvalidTransition(FailedPrecondition):
    """A task event that the closed loop does not allow from the task's state."""


class StaleEtag(DomainError):
    """The caller's etag no longer matches: somebody else changed the resource first."""


class PermissionDenied(DomainError):
    """The caller may not do this (another unit, or a role without the right)."""


class Unauthenticated(DomainError):
    """No valid credential."""


class AlreadyExists(DomainError):
    """A create under an id that is taken by a different record."""


class Unavailable(DomainError):
    """A service this one needs does not answer; the message names it."""
