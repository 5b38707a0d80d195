"""`[runs] appeal_window_working_days = 0` is no window: finalize at once, appeals refused when published."""

from __future__ import annotations

import dataclasses

import grpc

from tests.conftest import Stack, run_state, run_time
from tests.integration.test_applications import at
from tests.integration.test_records import create_record, refused
from tests.integration.test_runs import create_run, finalize_now, publish


def test_a_window_of_zero_closes_at_publication(example: Stack) -> None:
    app = example.parts["scoring"].app
    scheme = dataclasses.replace(app.scheme, appeal_window_working_days=0)
    app.scheme_by_sha = lambda sha: scheme
    at(example, "2026-01-05T10:00:00+08:00")
    run = create_run(example)
    published = publish(example, run.id)
    # Closed the second before it was published: nothing to wait for.
    assert run_time(published, "appeal_deadline") == "2026-01-05T09:59:59+08:00"
    appeal = {
        "id": "AP9",
        "target_type": "accountability",
        "target": "A2",
        "date": "2026-01-05",
        "reason": "已撤销",
    }
    error = refused(
        lambda: create_record(example, "appeal", appeal, role="department", unit="jyj"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "申诉期已于" in (error.details() or "")
    # Finalised within the same second as the publication.
    assert run_state(finalize_now(example, run.id)) == "final"
