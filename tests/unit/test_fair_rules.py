"""The pure rules of a fair year: extensions in a replay, `latest` in the scheme, the kernel's cut-off."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.common.errors import InvalidTransition, SchemeInvalid
from services.common.scheme import load_scheme
from services.scoring.domain import score
from services.tasks.domain import Event, Kind, due_in_force, replay
from tests.conftest import example_path
from tests.unit.scoring_builders import LedgerBuilder, reference_document

T = datetime.fromisoformat


def history(*events: tuple[str, str, str | None]) -> list[Event]:
    out = [
        Event(1, Kind.CREATE, T("2025-03-01T09:00:00+08:00")),
        Event(2, Kind.ASSIGN, T("2025-03-01T09:00:00+08:00")),
    ]
    for seq, (kind, at, due) in enumerate(events, start=3):
        out.append(Event(seq, Kind(kind), T(at), due_at=T(due) if due else None))
    return out


DUE = T("2025-03-10T23:59:59+08:00")


def test_an_extension_before_the_due_moves_it_and_a_second_one_follows_the_first() -> None:
    events = history(
        ("extend", "2025-03-09T10:00:00+08:00", "2025-03-20T23:59:59+08:00"),
        # After the task's own due but before the first extension's: still in time.
        ("extend", "2025-03-15T10:00:00+08:00", "2025-03-31T23:59:59+08:00"),
    )
    result = replay(events, lenient=True, due_at=DUE)
    assert result.extended_to == T("2025-03-31T23:59:59+08:00") and result.state.value == "assigned"
    assert due_in_force(events, due_at=DUE, as_of=T("2025-03-12T00:00:00+08:00")) == (
        T("2025-03-20T23:59:59+08:00"),
        True,
    )
    assert due_in_force(events, due_at=DUE, as_of=T("2025-03-09T09:59:59+08:00")) == (DUE, False)


@pytest.mark.parametrize(
    ("events", "words"),
    [
        ((("extend", "2025-03-11T00:00:00+08:00", "2025-03-20T23:59:59+08:00"),), "已逾期"),
        ((("extend", "2025-03-09T00:00:00+08:00", "2025-03-10T23:59:59+08:00"),), "须晚于"),
        (
            (
                ("report", "2025-03-08T00:00:00+08:00", None),
                ("extend", "2025-03-09T00:00:00+08:00", "2025-03-20T23:59:59+08:00"),
            ),
            "延期只能用于",
        ),
        ((("extend", "2025-03-09T00:00:00+08:00", None),), "due_at"),
    ],
)
def test_extensions_the_rules_refuse(events: tuple[tuple[str, str, str | None], ...], words: str) -> None:
    with pytest.raises(InvalidTransition, match=words):
        replay(history(*events), lenient=True, due_at=DUE)


def test_latest_must_end_after_the_limit() -> None:
    text = example_path("scheme.toml").read_text(encoding="utf-8")
    good = text.replace(
        'limit = { amount = 30, unit = "minutes" }',
        'limit = { amount = 30, unit = "minutes" }\nlatest = { amount = 2, unit = "hours" }',
    )
    spec = load_scheme(good).task_types["emergency_written"]
    assert spec.latest is not None and (spec.latest.amount, spec.latest.unit) == (2, "hours")
    for latest in (
        '{ amount = 20, unit = "minutes" }',
        '{ amount = 30, unit = "minutes" }',
        '{ amount = 0, unit = "hours" }',
    ):
        bad = text.replace(
            'limit = { amount = 30, unit = "minutes" }',
            f'limit = {{ amount = 30, unit = "minutes" }}\nlatest = {latest}',
        )
        with pytest.raises(SchemeInvalid) as refused:
            load_scheme(bad)
        assert any("task_types.emergency_written.latest" in v.field for v in refused.value.violations)


def test_the_kernel_gives_nothing_after_latest_and_agrees_with_the_reference() -> None:
    scheme = load_scheme(example_path("scheme.toml").read_text(encoding="utf-8"))
    due = T("2025-03-03T10:30:00+08:00")
    b = LedgerBuilder()
    b.unit("fgj")
    b.task("A", "fgj", due=due, reported=due + timedelta(minutes=1), latest=due + timedelta(minutes=90))
    b.task("B", "fgj", due=due, reported=due + timedelta(hours=3), latest=due + timedelta(minutes=90))
    b.task("C", "fgj", due=due, reported=due + timedelta(hours=3), extended=True, verified=True)
    b.task("D", "fgj", due=due, reported=due - timedelta(minutes=1), latest=due + timedelta(minutes=90))
    inputs = b.inputs()
    doc = score(inputs, scheme, year=2025).document()
    got = {t["task"]: t for t in doc["units"][0]["breakdown"]["tasks"]}
    assert [got[k]["credit"] for k in "ABCD"] == [pytest.approx(0.9), 0.0, pytest.approx(0.9), 1.0]
    assert (got["C"]["verified"], got["C"]["extended"], got["A"]["verified"]) == (True, True, False)
    ref = reference_document(inputs, scheme, year=2025)
    assert {k[1]: v["credit"] for k, v in ref["task_lines"].items()} == {
        "A": pytest.approx(0.9),
        "B": 0.0,
        "C": pytest.approx(0.9),
        "D": 1.0,
    }


def test_every_view_marks_an_interim_run_and_the_breakdown_says_verified_and_extended() -> None:
    import io

    import openpyxl

    from services.cli import render
    from services.gateway.export import result_to_xlsx

    scheme = load_scheme(example_path("scheme.toml").read_text(encoding="utf-8"))
    due = T("2025-03-03T10:30:00+08:00")
    b = LedgerBuilder()
    b.unit("fgj", name="发改局")
    b.task("A", "fgj", due=due, reported=due, verified=True, extended=True)
    document = score(b.inputs(), scheme, year=2025, as_of=T("2025-07-01T12:00:00+08:00")).document()
    document |= {"run": "2025-001", "state": "draft"}
    assert document["interim"] is True
    assert "期中" in render.results(document)
    detail = render.results(document, detail=True)
    assert "已核查" in detail and "（已延期）" in detail
    book = openpyxl.load_workbook(io.BytesIO(result_to_xlsx(document)))
    assert "期中" in (book.properties.title or "")
    info = {row[0]: row[1] for row in book["说明"].iter_rows(values_only=True)}
    assert str(info["期中"]).startswith("是")
    standing = {
        "name": "发改局",
        "category": "department",
        "open_blue": 0,
        "open_yellow": 0,
        "open_red": 0,
        "on_time_rate": -1.0,
        "error_reports": 0,
        "indicators": [],
        "provisional_total": 0.0,
        "provisional_rank": 1,
        "provisional_grade": "poor",
        "nothing_due": True,
    }
    overview = render.overview(
        {"year": 2026, "as_of": "x", "scheme": "s", "interim": True, "units": [standing]}
    )
    assert "—" in overview and "较差" not in overview and "期中" in overview


def test_a_run_stored_before_interim_runs_says_whether_it_is_one() -> None:
    import json
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from services.scoring.views import run_view

    def shown(as_of: str) -> bool:
        document = {"year": 2025, "as_of": as_of, "units": []}
        row = SimpleNamespace(
            id="2025-001",
            state="draft",
            year=2025,
            scheme_id="s",
            scheme_sha256="x",
            as_of=0,
            input_digest="d",
            supersedes="",
            superseded_by="",
            created_at=0,
            published_at=None,
            finalized_at=None,
            appeal_deadline=None,
            document=json.dumps(document),
            version=1,
            duration_seconds=0.0,
        )
        view = run_view(row, ZoneInfo("Asia/Shanghai"), unit="", breakdown=False, with_document=True)
        assert view.document is not None
        return bool(view.document["interim"])

    assert shown("2025-06-30T23:59:59+08:00") is True
    assert shown("2025-12-31T23:59:59+08:00") is False
