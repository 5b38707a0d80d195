"""The bulletin's issue numbers in the gateway's database (SQLite, PostgreSQL): next, kept, chosen, taken."""

from __future__ import annotations

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.gateway.accounts.storage import open_database
from services.gateway.bulletin_issues import IssueNumbers, MemoryIssueNumbers, StoredIssueNumbers
from tests.conftest import Databases


def stores(databases: Databases) -> list[IssueNumbers]:
    return [StoredIssueNumbers(open_database(databases.url("gateway"))), MemoryIssueNumbers()]


def test_issue_numbers_follow_on_per_year_and_a_period_keeps_its_own(databases: Databases) -> None:
    for numbers in stores(databases):
        assert numbers.number(year=2026, period="2026-10") == 1
        assert numbers.number(year=2026, period="2026-11") == 2
        # Generated again (a corrected reprint): the same issue, not a new one.
        assert numbers.number(year=2026, period="2026-10") == 1
        # The office's own number re-numbers the period; the next follows the highest.
        assert numbers.number(year=2026, period="2026-Q4", requested=9) == 9
        assert numbers.number(year=2026, period="2026-12") == 10
        assert numbers.number(year=2026, period="2026-11", requested=4) == 4
        assert numbers.number(year=2026, period="2026-11") == 4
        # A new year starts again at 1.
        assert numbers.number(year=2027, period="2026-12") == 1


def test_a_number_another_period_holds_is_refused_naming_it_and_nothing_changes(databases: Databases) -> None:
    for numbers in stores(databases):
        numbers.number(year=2026, period="2026-10")
        numbers.number(year=2026, period="2026-11")
        with pytest.raises(FailedPrecondition, match="2026年第1期已用于 2026-10"):
            numbers.number(year=2026, period="2026-11", requested=1)
        assert numbers.number(year=2026, period="2026-11") == 2
        for wrong in (-1, 10_000):
            with pytest.raises(InvalidArgument) as caught:
                numbers.number(year=2026, period="2026-12", requested=wrong)
            assert caught.value.violations[0].field == "issue"
        assert numbers.number(year=2026, period="2026-12") == 3


def test_the_stored_numbers_outlive_the_process(databases: Databases) -> None:
    url = databases.url("gateway")
    assert StoredIssueNumbers(open_database(url)).number(year=2026, period="2026-10") == 1
    again = StoredIssueNumbers(open_database(url))
    assert again.number(year=2026, period="2026-10") == 1
    assert again.number(year=2026, period="2026-11") == 2
