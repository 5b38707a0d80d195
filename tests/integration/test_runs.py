"""Runs through the gateway: draft → 公示 → 定档, corrections, reproducibility, schemes, appeals, access."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.result_wire import result_to_json_dict
from tests.conftest import Stack, run_state, run_time
from tests.integration.test_records import create_record, jsonl, refused, violations
from tests.tasks_text import TextStub


def scoring_stub(stack: Stack) -> Any:
    return stack.stubs()[2]


def create_run(stack: Stack, **fields: Any) -> Any:
    return (
        scoring_stub(stack)
        .CreateRun(
            scoring_pb2.CreateRunRequest(year=fields.pop("year", 2025), **fields),
            metadata=stack.metadata(),
            timeout=60,
        )
        .run
    )


def get_run(stack: Stack, role: str = "office", caller_unit: str | None = None, **fields: Any) -> Any:
    return (
        scoring_stub(stack)
        .GetRun(scoring_pb2.GetRunRequest(**fields), metadata=stack.metadata(role, caller_unit), timeout=30)
        .run
    )


def list_runs(stack: Stack, role: str = "office", caller_unit: str | None = None) -> list[Any]:
    return list(
        scoring_stub(stack)
        .ListRuns(
            scoring_pb2.ListRunsRequest(year=2025), metadata=stack.metadata(role, caller_unit), timeout=30
        )
        .runs
    )


def publish(stack: Stack, run_id: str, etag: str = "") -> Any:
    return (
        scoring_stub(stack)
        .PublishRun(
            scoring_pb2.PublishRunRequest(id=run_id, etag=etag), metadata=stack.metadata(), timeout=30
        )
        .run
    )


def after_the_appeal_window(stack: Stack, run_id: str) -> None:
    """Moves the scoring service's clock just past the run's 公示 appeal window, if it has one."""
    run = get_run(stack, id=run_id)
    if run.HasField("appeal_deadline"):
        later = run.appeal_deadline.seconds + 1
        app = stack.parts["scoring"].app
        now = app.clock()
        app.clock = lambda: max(now, later)


def finalize(stack: Stack, run_id: str, etag: str = "") -> Any:
    """定档 as the office does it: once the run's appeal window has closed."""
    after_the_appeal_window(stack, run_id)
    return finalize_now(stack, run_id, etag)


def verify_every_report(stack: Stack) -> None:
    """核查 of every report waiting for it: 定档 needs each counted report verified (SCORING.md §9)."""
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    listed = tasks.ListTasks(
        tasks_pb2.ListTasksRequest(page_size=5000), metadata=stack.metadata(), timeout=30
    )
    for task in listed.tasks:
        if task.state == "reported":
            tasks.VerifyTask(tasks_pb2.VerifyTaskRequest(id=task.id), metadata=stack.metadata(), timeout=30)


def finalize_now(stack: Stack, run_id: str, etag: str = "") -> Any:
    """定档 with every report verified, whatever the appeal window says."""
    verify_every_report(stack)
    return (
        scoring_stub(stack)
        .FinalizeRun(
            scoring_pb2.FinalizeRunRequest(id=run_id, etag=etag), metadata=stack.metadata(), timeout=30
        )
        .run
    )


def units_of(run: Any) -> dict[str, dict[str, Any]]:
    return {u["unit"]: u for u in result_to_json_dict(run.result)["units"]}


def totals_of(run: Any) -> dict[str, dict[str, Any]]:
    """Each unit's numbers without the breakdown (runs returned by publish and finalize carry none)."""
    return {u: {k: v for k, v in entry.items() if k != "breakdown"} for u, entry in units_of(run).items()}


def appeal(stack: Stack, appeal_id: str, report: str, unit: str) -> Any:
    return create_record(
        stack,
        "appeal",
        {"id": appeal_id, "error_report": report, "date": "2026-01-05", "reason": "材料已按时报送"},
        role="department",
        unit=unit,
    )


def test_a_run_goes_draft_publicised_final_and_then_never_changes(example: Stack) -> None:
    run = create_run(example)
    assert (run_state(run), run.year, run.scheme, run.supersedes, run.superseded_by) == (
        "draft",
        2025,
        "example-2025",
        "",
        "",
    )
    assert (
        run_time(run, "published_at"),
        run_time(run, "finalized_at"),
        run_time(run, "appeal_deadline"),
    ) == (
        "",
        "",
        "",
    )
    assert result_to_json_dict(run.result)["state"] == "draft"

    published = publish(example, run.id, run.etag)
    assert run_state(published) == "publicised"
    assert run_time(published, "published_at") and run_time(published, "appeal_deadline")
    deadline = datetime.fromisoformat(run_time(published, "appeal_deadline"))
    assert deadline > datetime.fromisoformat(run_time(published, "published_at"))
    assert run_time(published, "appeal_deadline").endswith("T23:59:59+08:00")
    refused(lambda: publish(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)
    refused(lambda: finalize(example, run.id, run.etag), grpc.StatusCode.ABORTED)  # the draft's etag is stale

    final = finalize(example, run.id, published.etag)
    assert (run_state(final), final.appeal_deadline) == ("final", published.appeal_deadline)
    assert run_time(final, "finalized_at")
    shown = get_run(example, id=run.id)
    for again in (publish, finalize):
        refused(lambda again=again: again(example, run.id), grpc.StatusCode.FAILED_PRECONDITION)  # type: ignore[misc]
    after = get_run(example, id=run.id)
    assert (run_state(after), after.etag, after.result) == ("final", shown.etag, shown.result)
    assert units_of(after) == units_of(run)
    assert result_to_json_dict(after.result)["state"] == "final"
    assert [(r.id, run_state(r)) for r in list_runs(example)] == [(run.id, "final")]


def test_a_correction_is_a_new_run_naming_the_one_it_supersedes(example: Stack) -> None:
    first = create_run(example)
    second = create_run(example, supersedes=first.id)
    assert (run_state(second), second.supersedes) == ("draft", first.id)
    assert second.id != first.id
    old = get_run(example, id=first.id)
    assert (run_state(old), old.superseded_by) == ("draft", second.id)
    assert old.result == get_run(example, id=first.id).result
    refused(lambda: create_run(example, supersedes=first.id), grpc.StatusCode.FAILED_PRECONDITION)
    refused(lambda: publish(example, first.id), grpc.StatusCode.FAILED_PRECONDITION)
    refused(lambda: create_run(example, supersedes="2025-99"), grpc.StatusCode.NOT_FOUND)
    refused(lambda: create_run(example, year=2024, supersedes=second.id), grpc.StatusCode.INVALID_ARGUMENT)

    # A final run is corrected the same way: it stays final, its result untouched.
    final = finalize(example, second.id, publish(example, second.id).etag)
    third = create_run(example, supersedes=second.id)
    corrected = get_run(example, id=second.id)
    assert (run_state(corrected), corrected.superseded_by, corrected.result) == (
        "final",
        third.id,
        get_run(example, id=second.id).result,
    )
    assert totals_of(corrected) == totals_of(final) == totals_of(second)
    assert get_run(example, year=2025).id == third.id


def test_publishing_another_run_of_the_year_supersedes_the_one_published_before(example: Stack) -> None:
    """The command line has no --supersedes: a correction published is what links the two runs."""
    first = create_run(example)
    final = finalize(example, first.id, publish(example, first.id).etag)
    second = create_run(example)
    assert (second.supersedes, get_run(example, id=first.id).superseded_by) == ("", "")
    published = publish(example, second.id)
    assert published.supersedes == first.id
    old = get_run(example, id=first.id)
    assert (run_state(old), old.superseded_by) == ("final", second.id)
    assert totals_of(old) == totals_of(final)
    finalize(example, second.id, published.etag)
    assert get_run(example, year=2025, role="department", caller_unit="fgj").id == second.id
    refused(lambda: publish(example, first.id), grpc.StatusCode.FAILED_PRECONDITION)


def test_same_inputs_same_digest_and_numbers_other_inputs_other_digest(example: Stack) -> None:
    first = create_run(example)
    second = create_run(example)
    assert first.input_digest == second.input_digest
    assert first.scheme_sha256 == second.scheme_sha256 == example.scheme.sha256
    assert units_of(first) == units_of(second)

    earlier = create_run(example, as_of="2025-06-30T23:59:59+08:00")
    assert earlier.input_digest != first.input_digest
    create_record(
        example,
        "incentive",
        {"id": "I9", "unit": "sfj", "date": "2025-12-01", "level": "county", "reason": "表彰"},
    )
    changed = create_run(example)
    assert changed.input_digest != first.input_digest
    assert units_of(changed)["sfj"]["bonus"] == pytest.approx(units_of(first)["sfj"]["bonus"] + 0.5)


def test_another_scheme_gives_another_sha_and_its_numbers(example: Stack) -> None:
    text = example.scheme.text.replace("general = 0.5", "general = 1.5")
    assert text != example.scheme.text
    run = create_run(example, scheme_toml=text)
    assert run.scheme_sha256 != example.scheme.sha256
    assert result_to_json_dict(run.result)["scheme_sha256"] == run.scheme_sha256
    assert units_of(run)["fgj"]["error_deduction"] == pytest.approx(1.5)
    default = create_run(example)
    assert units_of(default)["fgj"]["error_deduction"] == pytest.approx(0.5)
    stored = (
        scoring_stub(example)
        .GetScheme(
            scoring_pb2.GetSchemeRequest(sha256=run.scheme_sha256), metadata=example.metadata(), timeout=30
        )
        .scheme
    )
    assert (stored.sha256, stored.toml) == (run.scheme_sha256, text)


BAD_SCHEMES = {
    "unknown_key": (("points = 40", "points = 40\nbogus = 1"), "timeliness.bogus"),
    "negative_points": (("points = 40", "points = -40"), "timeliness.points"),
    "linear_without_floor": (("floor = 30\n", ""), "metrics[2].floor"),
    "quota_outside_0_1": (("excellent_quota = 0.2", "excellent_quota = 1.5"), "grades.excellent_quota"),
    "not_toml": (("[scheme]", "[scheme"), "scheme_toml"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCHEMES))
def test_a_bad_scheme_is_refused_naming_the_key(example: Stack, case: str) -> None:
    (old, new), key = BAD_SCHEMES[case]
    assert old in example.scheme.text
    error = refused(
        lambda: create_run(example, scheme_toml=example.scheme.text.replace(old, new, 1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert key in [f for f, _ in violations(error)]
    assert list_runs(example) == []


def test_applies_to_an_unknown_unit_is_refused_at_run_time(example: Stack) -> None:
    text = example.scheme.text.replace('applies_to = ["czj"]', 'applies_to = ["czj", "nowhere"]')
    assert text != example.scheme.text
    error = refused(lambda: create_run(example, scheme_toml=text), grpc.StatusCode.INVALID_ARGUMENT)
    found = violations(error)
    assert [f for f, _ in found] == ["metrics[1].applies_to[1]"]
    assert "nowhere" in found[0][1]
    assert list_runs(example) == []


LEDGER_2027: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {
        "type": "unit",
        "id": "czj",
        "name": "财政局",
        "category": "department",
    },  # the scheme names both in applies_to
    {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
    {
        "type": "task",
        "id": "Y1",
        "title": "落实批示",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2027-03-01T09:00:00+08:00",
    },
    {"type": "task_event", "task": "Y1", "kind": "report", "at": "2027-03-10T17:00:00+08:00"},
]


def test_a_year_the_calendar_does_not_cover_scores_with_a_warning(stack: Stack) -> None:
    stack.import_ledger(jsonl(LEDGER_2027))
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    task = tasks.GetTask(tasks_pb2.GetTaskRequest(id="Y1"), metadata=stack.metadata(), timeout=30).task
    # Monday to Friday only: 7 working days from Mon 2027-03-01 end on Wed 2027-03-10.
    assert task.due_at == "2027-03-10T23:59:59+08:00"
    # Scored once 2027 is over (a year not begun is refused): the scoring service's clock says 2028.
    stack.parts["scoring"].app.clock = lambda: int(
        datetime.fromisoformat("2028-01-10T09:00:00+08:00").timestamp()
    )
    run = create_run(stack, year=2027)
    document = result_to_json_dict(run.result)
    assert any("2027" in str(w) for w in document["calendar_warnings"]), document["calendar_warnings"]
    fgj = units_of(run)["fgj"]
    assert (fgj["timeliness_earned"], fgj["timeliness_max"]) == (40, 40)
    assert [t["task"] for t in fgj["breakdown"]["tasks"]] == ["Y1"]
    shown = result_to_json_dict(get_run(stack, year=2027).result)
    assert shown["calendar_warnings"] == document["calendar_warnings"]
    # A covered year carries no warning (a run needs something of its year to assess: one reading).
    stack.import_ledger(
        jsonl(
            [
                {
                    "type": "metric_reading",
                    "unit": "fgj",
                    "metric": "court_appearance_rate",
                    "period": "2025",
                    "numerator": 1,
                    "denominator": 1,
                }
            ]
        )
    )
    assert result_to_json_dict(create_run(stack, year=2025).result)["calendar_warnings"] == []


def test_appeals_during_publicity(example: Stack) -> None:
    refused(lambda: appeal(example, "AP9", "E1", "fgj"), grpc.StatusCode.FAILED_PRECONDITION)  # no run yet
    first = create_run(example)
    assert units_of(first)["fgj"]["error_deduction"] == pytest.approx(0.5)
    refused(lambda: appeal(example, "AP9", "E1", "fgj"), grpc.StatusCode.FAILED_PRECONDITION)  # still a draft
    publish(example, first.id)

    filed = appeal(example, "AP9", "E1", "fgj")
    assert (filed.kind, filed.id, filed.unit) == (scoring_pb2.RECORD_KIND_APPEAL, "AP9", "fgj")
    assert json_format.MessageToDict(filed.fields).get("upheld") is None
    refused(
        lambda: appeal(example, "AP10", "E3", "fgj"), grpc.StatusCode.PERMISSION_DENIED
    )  # 司法局's report
    refused(
        lambda: create_record(
            example,
            "appeal",
            {"id": "AP11", "error_report": "E1", "date": "2026-01-05", "upheld": True, "reason": "自己裁决"},
            role="department",
            unit="fgj",
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    error = refused(lambda: finalize(example, first.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "AP9" in (error.details() or "")

    scoring = scoring_stub(example)
    decided = scoring.DecideAppeal(
        scoring_pb2.DecideAppealRequest(id="AP9", upheld=True, reason="系统记录可查"),
        metadata=example.metadata(),
        timeout=30,
    ).record
    assert json_format.MessageToDict(decided.fields)["upheld"] is True
    refused(
        lambda: (
            scoring.DecideAppeal(
                scoring_pb2.DecideAppealRequest(id="AP9", upheld=False, reason="改判"),
                metadata=example.metadata(),
                timeout=30,
            ).record
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    refused(
        lambda: (
            scoring.DecideAppeal(
                scoring_pb2.DecideAppealRequest(id="AP9", upheld=True, reason="x"),
                metadata=example.metadata("department", "fgj"),
                timeout=30,
            ).record
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    second = create_run(example, supersedes=first.id)
    fgj = units_of(second)["fgj"]
    assert fgj["error_deduction"] == 0
    assert [(e["id"], e["voided"], e["points"]) for e in fgj["breakdown"]["errors"]] == [("E1", True, 0)]
    assert fgj["total"] == pytest.approx(units_of(first)["fgj"]["total"] + 0.5, abs=0.011)
    assert units_of(get_run(example, id=first.id))["fgj"]["error_deduction"] == pytest.approx(0.5)
    refused(lambda: finalize(example, first.id), grpc.StatusCode.FAILED_PRECONDITION)  # superseded

    finalize(example, second.id, publish(example, second.id).etag)
    # The year's result is final: appeals are closed, even though the superseded run's window has not ended.
    refused(lambda: appeal(example, "AP12", "E1", "fgj"), grpc.StatusCode.FAILED_PRECONDITION)


def test_a_rejected_appeal_keeps_the_deduction_and_lets_the_run_finalise(example: Stack) -> None:
    run = create_run(example)
    publish(example, run.id)
    appeal(example, "AP9", "E3", "sfj")
    scoring_stub(example).DecideAppeal(
        scoring_pb2.DecideAppealRequest(id="AP9", upheld=False, reason="理由不成立"),
        metadata=example.metadata(),
        timeout=30,
    )
    assert units_of(create_run(example))["sfj"]["error_deduction"] == units_of(run)["sfj"]["error_deduction"]
    assert run_state(finalize(example, run.id)) == "final"


def test_a_department_sees_its_own_result_once_publicised(example: Stack) -> None:
    draft = create_run(example)
    dept = {"role": "department", "caller_unit": "fgj"}
    with pytest.raises(grpc.RpcError) as hidden:
        get_run(example, year=2025, **dept)
    assert hidden.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
    refused(lambda: get_run(example, id=draft.id, **dept), grpc.StatusCode.NOT_FOUND)  # no draft is told
    assert list_runs(example, **dept) == []

    publish(example, draft.id)
    later_draft = create_run(example)
    shown = get_run(example, year=2025, **dept)
    assert shown.id == draft.id  # the latest publicised run, never the newer draft
    document = result_to_json_dict(shown.result)
    assert [u["unit"] for u in document["units"]] == ["fgj"]
    assert document["units"][0] == units_of(draft)["fgj"]
    assert [
        u["unit"] for u in result_to_json_dict(get_run(example, id=draft.id, **dept).result)["units"]
    ] == ["fgj"]
    refused(lambda: get_run(example, id=draft.id, unit="czj", **dept), grpc.StatusCode.PERMISSION_DENIED)
    refused(lambda: get_run(example, id=later_draft.id, **dept), grpc.StatusCode.NOT_FOUND)
    assert [r.id for r in list_runs(example, **dept)] == [draft.id]
    assert all(not r.HasField("result") for r in list_runs(example, **dept))
    # Everyone else reads every unit.
    for role in ("office", "supervisor", "viewer"):
        assert len(result_to_json_dict(get_run(example, role, id=draft.id).result)["units"]) == 6


def test_an_undecided_appeal_holds_back_only_the_year_of_its_report(example: Stack) -> None:
    earlier = create_run(example, year=2024)
    publish(example, earlier.id)
    appeal(example, "AP9", "E5", "jyj")  # E5 is dated 2024-12-30
    refused(lambda: finalize(example, earlier.id), grpc.StatusCode.FAILED_PRECONDITION)
    run = create_run(example)
    publish(example, run.id)
    assert run_state(finalize(example, run.id)) == "final"


LEDGER_CUTOFF: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},  # the scheme names townships
    # Each task: 7 working days from Mon 2025-03-03, due Wed 2025-03-12 23:59:59; the run's cutoff is 03-20.
    *(
        {
            "type": "task",
            "id": f"C{k}",
            "title": "落实批示",
            "task_type": "leader_directive",
            "lead_unit": "fgj",
            "co_units": ["czj"],
            "assigned_at": "2025-03-03T09:00:00+08:00",
        }
        for k in range(1, 5)
    ),
    # C1: late on 03-14 (L = 2), then re-reported after the cutoff: the 03-14 report counts.
    {"type": "task_event", "task": "C1", "kind": "report", "at": "2025-03-14T10:00:00+08:00"},
    {"type": "task_event", "task": "C1", "kind": "report", "at": "2025-03-25T10:00:00+08:00"},
    # C2: reported only after the cutoff: overdue at the cutoff.
    {"type": "task_event", "task": "C2", "kind": "report", "at": "2025-03-25T10:00:00+08:00"},
    # C3: on time, but that report was rejected after the cutoff: a reject at any time counts.
    {"type": "task_event", "task": "C3", "kind": "report", "at": "2025-03-11T10:00:00+08:00"},
    {"type": "task_event", "task": "C3", "kind": "reject", "at": "2025-03-24T10:00:00+08:00"},
    # C4: on time; a second report after the cutoff was rejected; the first stands.
    {"type": "task_event", "task": "C4", "kind": "report", "at": "2025-03-12T10:00:00+08:00"},
    {"type": "task_event", "task": "C4", "kind": "report", "at": "2025-03-26T10:00:00+08:00"},
    {"type": "task_event", "task": "C4", "kind": "reject", "at": "2025-03-27T10:00:00+08:00"},
]


def test_the_report_that_counts_is_taken_as_of_the_cutoff(stack: Stack) -> None:
    stack.import_ledger(jsonl(LEDGER_CUTOFF))
    run = create_run(stack, as_of="2025-03-20T23:59:59+08:00")
    for unit in ("fgj", "czj"):
        lines = {t["task"]: t for t in units_of(run)[unit]["breakdown"]["tasks"]}
        assert {k: (v["reported_at"], v["late_working_days"], v["credit"]) for k, v in lines.items()} == {
            "C1": ("2025-03-14T10:00:00+08:00", 2, pytest.approx(0.8)),
            "C2": (None, None, 0.0),
            "C3": (None, None, 0.0),
            "C4": ("2025-03-12T10:00:00+08:00", 0, 1.0),
        }, unit
    # As of the end of the year the later reports count: C1 and C2 late by 9 working days, C4 unchanged.
    year = {t["task"]: t for t in units_of(create_run(stack))["fgj"]["breakdown"]["tasks"]}
    assert [year[k]["reported_at"] for k in ("C1", "C2", "C3", "C4")] == [
        "2025-03-25T10:00:00+08:00",
        "2025-03-25T10:00:00+08:00",
        None,
        "2025-03-12T10:00:00+08:00",
    ]


def test_a_run_can_answer_with_its_totals_only(example: Stack) -> None:
    """A prefecture's breakdown is hundreds of MB: `assess run` asks for the totals, GetRun for the rest."""
    brief = create_run(example, omit_breakdown=True, request_id="r-1")
    assert all("breakdown" not in u for u in units_of(brief).values())
    again = create_run(example, request_id="r-1")  # the same request: the same run, now with its breakdown
    assert again.id == brief.id and all("breakdown" in u for u in units_of(again).values())
    assert totals_of(again) == totals_of(brief) == totals_of(get_run(example, id=brief.id))
    assert len(list_runs(example)) == 1
