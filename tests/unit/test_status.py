"""One table, domain error ↔ gRPC status code, read both ways."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from services.common import errors
from services.common.status import CODES, UNREACHABLE, code_for, domain_error, error_for, status_for


class _Refusal(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A refusal as a client stub raises it: code, details and the rich status in the trailers."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...] = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self._trailing

    def initial_metadata(self) -> tuple[Any, ...]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def _as_refusal(exc: errors.DomainError) -> _Refusal:
    code, status = status_for(exc)
    return _Refusal(code, str(exc), rpc_status.to_status(status).trailing_metadata)


def _sample(kind: type[errors.DomainError]) -> errors.DomainError:
    if issubclass(kind, errors.InvalidArgument):
        return kind([errors.FieldViolation("line 3: due_at", "is before assigned_at")])
    return kind("what went wrong")


@pytest.mark.parametrize("kind", [kind for kind, _ in CODES], ids=lambda k: k.__name__)
def test_every_domain_error_goes_to_its_code_and_back_to_its_class(kind: type[errors.DomainError]) -> None:
    exc = _sample(kind)
    code = code_for(exc)
    assert dict(CODES)[kind] == code
    back = error_for(code, str(exc))
    assert type(back) is kind


@pytest.mark.parametrize(
    "kind", [kind for kind, code in CODES if code not in UNREACHABLE], ids=lambda k: k.__name__
)
def test_a_backends_refusal_comes_back_as_the_domain_error_it_was(kind: type[errors.DomainError]) -> None:
    exc = _sample(kind)
    back = domain_error(_as_refusal(exc), unavailable=lambda details: f"gone: {details}")
    assert type(back) is kind and str(back) == str(exc)


def test_field_violations_survive_the_round_trip() -> None:
    exc = errors.InvalidArgument(
        [
            errors.FieldViolation("line 3: due_at", "is before assigned_at"),
            errors.FieldViolation("title", "is empty"),
        ]
    )
    back = domain_error(_as_refusal(exc), unavailable=str)
    assert isinstance(back, errors.InvalidArgument)
    assert back.violations == exc.violations


def test_subclasses_map_to_their_parents_code() -> None:
    assert code_for(errors.SchemeInvalid("grades", "missing")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_for(errors.InvalidTransition("closed")) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_for(errors.DomainError("unnamed")) == grpc.StatusCode.INTERNAL


@pytest.mark.parametrize("code", UNREACHABLE, ids=lambda c: c.name)
def test_a_backend_that_does_not_answer_is_unavailable_with_the_callers_message(
    code: grpc.StatusCode,
) -> None:
    back = domain_error(_Refusal(code, "connection refused"), unavailable=lambda d: f"tasks is down: {d}")
    assert isinstance(back, errors.Unavailable) and str(back) == "tasks is down: connection refused"


def test_a_code_the_table_does_not_name_stays_the_rpc_error() -> None:
    refusal = _Refusal(grpc.StatusCode.INTERNAL, "boom")
    assert domain_error(refusal, unavailable=str) is refusal
    assert error_for(grpc.StatusCode.UNIMPLEMENTED, "no") is None
