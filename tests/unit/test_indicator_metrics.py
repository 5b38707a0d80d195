"""The indicator target Prometheus compares against: pro-rated for yearly totals, as written otherwise."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.scheme import Scheme
from services.scoring.metrics import target_due


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2025, 1, 20), 0.0),
        (date(2025, 2, 1), 5.0),
        (date(2025, 6, 15), 25.0),
        (date(2025, 12, 31), 55.0),
        (date(2026, 1, 1), 60.0),
        (date(2024, 12, 31), 0.0),
    ],
)
def test_a_yearly_total_is_expected_month_by_month(example_scheme: Scheme, today: date, due: float) -> None:
    research = example_scheme.metric("field_research_days")
    assert target_due(research, year=2025, today=today) == pytest.approx(due)


def test_ratios_keep_the_scheme_target_all_year(example_scheme: Scheme) -> None:
    share = example_scheme.metric("livelihood_spending_share")
    for month in (1, 6, 12):
        assert target_due(share, year=2025, today=date(2025, month, 1)) == pytest.approx(0.75)
