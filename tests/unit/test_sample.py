"""The sample county generator: deterministic, realistic, and every record valid against its scheme."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.cli.sample import sample_county, write_jsonl
from services.common.calendar import due_at, progress_deadlines
from services.common.scheme import Scheme, load_scheme
from services.notify.config import check_units, load_notify_config

SCHEMES = Path(__file__).resolve().parents[2] / "schemes"
NOTIFY_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "notify.example.toml"
TZ_SUFFIX = "+08:00"
FIELDS = {
    "unit": ({"id", "name", "category"}, {"parent"}),
    "person": ({"id", "name", "unit", "post"}, {"leader", "mobile"}),
    "task": (
        {"id", "title", "task_type", "lead_unit", "assigned_at"},
        {"co_units", "priority", "due_at", "source", "responsible", "leader", "parent"},
    ),
    "task_event": ({"task", "kind", "at"}, {"by", "note"}),
    "error_report": ({"id", "unit", "date", "category", "severity", "description"}, set()),
    "metric_reading": ({"unit", "metric", "period"}, {"value", "numerator", "denominator"}),
    "incentive": ({"id", "unit", "date", "level", "reason"}, set()),
    "tolerance": ({"id", "unit", "target_type", "target", "decision", "date", "reason"}, set()),
    "accountability": ({"id", "unit", "date", "kind", "reason"}, {"person", "decided_by"}),
    "appeal": ({"id", "target_type", "target", "date", "upheld", "reason"}, set()),
    "target": ({"unit", "metric", "year", "target"}, {"floor"}),
}
ERROR_CATEGORIES = {"meeting", "drafting", "implementation", "information", "other"}


def _scheme_text(name: str = "default") -> str:
    return (SCHEMES / f"{name}.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def default_records() -> list[dict[str, Any]]:
    return sample_county(scheme_text=_scheme_text(), year=2026)


def _instant(value: str) -> datetime:
    assert value.endswith(TZ_SUFFIX), value
    return datetime.fromisoformat(value)


def _check_ledger(records: list[dict[str, Any]], scheme: Scheme, *, year: int, until: date) -> None:
    """Every rule of FORMATS.md the import applies, plus the generator's own promises."""
    cutoff = datetime.combine(until, time(23, 59, 59)).replace(tzinfo=scheme.tz)
    last_day = min(until, date(year, 12, 31))
    units: dict[str, str] = {}
    tasks: dict[str, dict[str, Any]] = {}
    events: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    errors: dict[str, dict[str, Any]] = {}
    accountability: dict[str, dict[str, Any]] = {}
    own_targets: set[tuple[str, str, int]] = set()
    ids: Counter[tuple[str, str]] = Counter()
    readings: set[tuple[str, str, str]] = set()
    phase = 0  # 0 units, 1 tasks and events, 2 the rest
    for n, r in enumerate(records):
        kind = r["type"]
        required, optional = FIELDS[kind]
        assert required <= r.keys() and r.keys() - {"type"} <= required | optional, (n, r)
        rank = {"unit": 0, "person": 0, "task": 1, "task_event": 1}.get(kind, 2)
        assert rank >= phase, f"record {n} ({kind}) comes after a later section"
        phase = rank
        if "id" in r:
            ids[(kind, r["id"])] += 1
        if "date" in r:
            d = date.fromisoformat(r["date"])
            assert date(year, 1, 1) <= d <= last_day, r
        if "unit" in r:
            assert r["unit"] in units, r
        if kind == "unit":
            units[r["id"]] = r["category"]
        elif kind == "task":
            assert r["task_type"] in scheme.task_types
            assert r["lead_unit"] in units
            co = r.get("co_units", [])
            assert r["lead_unit"] not in co and len(set(co)) == len(co) and set(co) <= units.keys(), r
            assert r.get("priority", "normal") in scheme.timeliness.priority_weights
            assigned = _instant(r["assigned_at"])
            assert date(year, 1, 1) <= assigned.date() <= last_day, r
            if "due_at" in r:
                assert r["task_type"] == "major_item" and _instant(r["due_at"]) >= assigned, r
            tasks[r["id"]] = r
        elif kind == "task_event":
            assert r["task"] in tasks, r
            at = _instant(r["at"])
            assert _instant(tasks[r["task"]]["assigned_at"]) < at <= cutoff, r
            history = events[r["task"]]
            assert not history or history[-1][1] < at, r
            assert not history or history[-1][0] not in ("close", "cancel"), r
            if r["kind"] in ("verify", "reject"):
                assert _unrejected_report(history), r
            if r["kind"] in ("cancel", "reject"):
                assert r.get("note"), r
            history.append((r["kind"], at))
        elif kind == "error_report":
            assert r["category"] in ERROR_CATEGORIES and r["severity"] in scheme.error_reports.deductions
            errors[r["id"]] = r
        elif kind == "appeal":
            appealed = {"error_report": errors, "accountability": accountability}[r["target_type"]]
            assert r["target"] in appealed and isinstance(r["upheld"], bool), r  # decided, every one
            assert r["date"] >= appealed[r["target"]]["date"], r
        elif kind == "target":
            metric = scheme.metric(r["metric"])
            assert r["year"] == year and (r["unit"], r["metric"], year) not in own_targets, r
            own_targets.add((r["unit"], r["metric"], year))
            if metric.applies_to:
                assert r["unit"] in metric.applies_to or units[r["unit"]] in metric.applies_to, r
            assert metric.unit_target_problem(target=r["target"], floor=r.get("floor")) is None, r
        elif kind == "metric_reading":
            metric = scheme.metric(r["metric"])
            assert r["period"].startswith(str(year)) and len(r["period"]) in (4, 7), r
            if len(r["period"]) == 7:
                month = int(r["period"][5:])
                month_end = (
                    date(year, 12, 31) if month == 12 else date(year, month + 1, 1) - timedelta(days=1)
                )
                assert month_end <= last_day, r  # only complete months are reported
            else:
                assert last_day == date(year, 12, 31), r  # a yearly figure only once the year is over
            if metric.applies_to:
                assert r["unit"] in metric.applies_to or units[r["unit"]] in metric.applies_to, r
            key = (r["unit"], r["metric"], r["period"])
            assert key not in readings, r
            readings.add(key)
            if metric.kind == "ratio":
                assert "value" not in r and 0 <= r["numerator"] <= r["denominator"], r
            else:
                assert "numerator" not in r and isinstance(r["value"], int | float) and r["value"] >= 0, r
        elif kind == "incentive":
            assert r["level"] in scheme.incentives.points
        elif kind == "accountability":
            assert r["kind"] in scheme.accountability.kinds
            accountability[r["id"]] = r
        elif kind == "tolerance":
            assert r["decision"] in ("exempt", "mitigate")
            if r["target_type"] == "task":
                task = tasks[r["target"]]
                assert r["unit"] == task["lead_unit"], r
            else:
                assert r["target_type"] == "error_report" and errors[r["target"]]["unit"] == r["unit"], r
    assert all(count == 1 for count in ids.values()), [k for k, c in ids.items() if c > 1]
    targets = [(r["target_type"], r["target"]) for r in records if r["type"] == "tolerance"]
    assert len(targets) == len(set(targets))


def _unrejected_report(history: list[tuple[str, datetime]]) -> bool:
    open_reports = 0
    for kind, _ in history:
        if kind == "report":
            open_reports += 1
        elif kind == "reject":
            open_reports -= 1
    return open_reports > 0


def test_same_inputs_give_the_same_records() -> None:
    text = _scheme_text()
    first = sample_county(scheme_text=text, year=2026)
    again = sample_county(scheme_text=text, year=2026)
    assert json.dumps(first, ensure_ascii=False) == json.dumps(again, ensure_ascii=False)
    assert sample_county(scheme_text=text, year=2026, seed=7) != first


def test_about_forty_units_in_two_categories(default_records: list[dict[str, Any]]) -> None:
    units = [r for r in default_records if r["type"] == "unit"]
    categories = Counter(r["category"] for r in units)
    assert 35 <= len(units) <= 45
    assert categories["department"] >= 20 and categories["township"] >= 10
    assert {"fgj", "czj", "sfj", "jyj", "cgz"} <= {r["id"] for r in units}


def test_default_ledger_is_valid(default_records: list[dict[str, Any]]) -> None:
    _check_ledger(default_records, load_scheme(_scheme_text()), year=2026, until=date(2026, 12, 31))


@pytest.mark.parametrize("name", ["yingjisha", "wenshang", "ningqiang", "haiyang"])
def test_every_preset_gives_a_valid_ledger_with_every_task_type(name: str) -> None:
    scheme = load_scheme(_scheme_text(name))
    records = sample_county(scheme_text=_scheme_text(name), year=2026)
    _check_ledger(records, scheme, year=2026, until=date(2026, 12, 31))
    assert {r["task_type"] for r in records if r["type"] == "task"} == set(scheme.task_types)


def test_a_year_of_every_task_type(default_records: list[dict[str, Any]]) -> None:
    scheme = load_scheme(_scheme_text())
    tasks = [r for r in default_records if r["type"] == "task"]
    assert 300 <= len(tasks) <= 2500
    assert {r["task_type"] for r in tasks} == set(scheme.task_types)
    assert {r.get("priority") for r in tasks} == {"normal", "important", "urgent"}
    assert sum(1 for r in tasks if r.get("co_units")) >= 50
    months = Counter(r["assigned_at"][5:7] for r in tasks)
    assert len(months) == 12
    assert all(r["due_at"] == "2026-12-31T23:59:59+08:00" for r in tasks if r["task_type"] == "major_item")
    assert all("due_at" not in r for r in tasks if r["task_type"] != "major_item")


def test_completion_is_realistic(default_records: list[dict[str, Any]]) -> None:
    scheme = load_scheme(_scheme_text())
    calendar = scheme.calendar()
    tasks = {r["id"]: r for r in default_records if r["type"] == "task"}
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in default_records:
        if r["type"] == "task_event":
            history[r["task"]].append(r)
    outcome: Counter[str] = Counter()
    for task_id, task in tasks.items():
        kinds = [e["kind"] for e in history[task_id]]
        if "cancel" in kinds:
            outcome["cancelled"] += 1
            continue
        reports = [e for e in history[task_id] if e["kind"] == "report"]
        if "reject" in kinds:
            outcome["rejected"] += 1
        if "close" in kinds:
            outcome["closed"] += 1
        if not reports or kinds.count("reject") >= len(reports):
            outcome["open"] += 1
            continue
        assigned = datetime.fromisoformat(task["assigned_at"])
        if "due_at" in task:
            due = datetime.fromisoformat(task["due_at"])
        else:
            limit = scheme.task_types[task["task_type"]].limit
            due = due_at(assigned_at=assigned, limit=limit, calendar=calendar, tz=scheme.tz)
        late = datetime.fromisoformat(reports[-1]["at"]) > due
        outcome["late" if late else "on_time"] += 1
    total = len(tasks)
    assert outcome["on_time"] > 0.6 * total
    assert 0.05 * total < outcome["late"] < 0.3 * total
    assert outcome["rejected"] > 0.03 * total
    assert outcome["closed"] > 0.3 * total
    assert 0 < outcome["cancelled"] < 0.1 * total
    assert 0 < outcome["open"] < 0.15 * total


def test_periodic_items_report_progress(default_records: list[dict[str, Any]]) -> None:
    majors = {r["id"] for r in default_records if r["type"] == "task" and r["task_type"] == "major_item"}
    progressed = {r["task"] for r in default_records if r["type"] == "task_event" and r["kind"] == "progress"}
    assert len(majors & progressed) > 0.8 * len(majors)


def test_metric_readings_cover_every_metric_with_some_misses(default_records: list[dict[str, Any]]) -> None:
    scheme = load_scheme(_scheme_text())
    units = {r["id"]: r["category"] for r in default_records if r["type"] == "unit"}
    readings = [r for r in default_records if r["type"] == "metric_reading"]
    assert {r["metric"] for r in readings} == {m.id for m in scheme.metrics}
    reported = {(r["unit"], r["metric"]) for r in readings}
    expected = {
        (u, m.id)
        for m in scheme.metrics
        for u, c in units.items()
        if not m.applies_to or u in m.applies_to or c in m.applies_to
    }
    assert reported <= expected
    assert 0 < len(expected - reported) < 0.1 * len(expected)  # an occasional 缺报
    assert {len(r["period"]) for r in readings} == {4, 7}  # yearly and monthly periods
    below = 0
    for metric in scheme.metrics:
        if metric.kind != "ratio":
            continue
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for r in readings:
            if r["metric"] == metric.id:
                sums[r["unit"]][0] += r["numerator"]
                sums[r["unit"]][1] += r["denominator"]
        below += sum(1 for n, d in sums.values() if d and n / d < metric.target - 1e-9)
    assert below > 0


def test_three_mechanisms_and_appeals(default_records: list[dict[str, Any]]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in default_records:
        by_type[r["type"]].append(r)
    assert len(by_type["error_report"]) >= 20
    assert {r["severity"] for r in by_type["error_report"]} == {"general", "serious", "grave"}
    assert len(by_type["incentive"]) >= 10
    assert {r["decision"] for r in by_type["tolerance"]} == {"exempt", "mitigate"}
    assert {r["target_type"] for r in by_type["tolerance"]} == {"task", "error_report"}
    vetoes = [r for r in by_type["accountability"] if r["kind"] == "disciplinary"]
    assert len(vetoes) == 1
    assert len(by_type["accountability"]) > 1
    for target_type in ("error_report", "accountability"):
        appeals = [a for a in by_type["appeal"] if a["target_type"] == target_type]
        assert len(appeals) == 2 and sorted(a["upheld"] for a in appeals) == [False, True], target_type
    assert len(by_type["appeal"]) == 4
    assert not {a["target"] for a in by_type["appeal"]} & {r["id"] for r in vetoes}  # the veto stands
    # The veto names the person concerned, its unit's 责任人 by name, and the body that decided it; the
    # milder records name neither (both fields optional).
    person = {p["unit"]: p["name"] for p in by_type["person"] if not p.get("leader")}[vetoes[0]["unit"]]
    assert (vetoes[0]["person"], vetoes[0]["decided_by"]) == (person, "县纪委监委")
    assert not any("person" in r or "decided_by" in r for r in by_type["accountability"] if r not in vetoes)
    tolerated = {r["target"] for r in by_type["tolerance"]}
    assert not tolerated & {a["target"] for a in by_type["appeal"]}


def test_until_cuts_the_year(default_records: list[dict[str, Any]]) -> None:
    until = date(2026, 6, 30)
    records = sample_county(scheme_text=_scheme_text(), year=2026, until=until)
    _check_ledger(records, load_scheme(_scheme_text()), year=2026, until=until)
    tasks = [r for r in records if r["type"] == "task"]
    assert {r["task_type"] for r in tasks} == {r["task_type"] for r in default_records if r["type"] == "task"}
    assert len(tasks) < 0.7 * sum(1 for r in default_records if r["type"] == "task")
    periods = {r["period"] for r in records if r["type"] == "metric_reading"}
    assert periods and max(periods) <= "2026-06" and "2026" not in periods


def test_before_the_year_there_are_only_units_and_people() -> None:
    records = sample_county(scheme_text=_scheme_text(), year=2026, until=date(2025, 12, 31))
    assert {r["type"] for r in records} == {"unit", "person"}


def test_two_townships_with_villages_people_and_a_task_in_parts(
    default_records: list[dict[str, Any]],
) -> None:
    units = {r["id"]: r for r in default_records if r["type"] == "unit"}
    villages = [u for u in units.values() if u.get("parent")]
    assert len({u["parent"] for u in villages}) == 2 and len(villages) >= 4
    assert all(units[u["parent"]]["category"] == "township" for u in villages)
    people = [r for r in default_records if r["type"] == "person"]
    assert {p["unit"] for p in people} == set(units) and any(p.get("leader") for p in people)
    tasks = [r for r in default_records if r["type"] == "task"]
    assert all(t.get("responsible") for t in tasks)
    parts = [t for t in tasks if t.get("parent")]
    parents = {t["id"]: t for t in tasks if t["id"] in {p["parent"] for p in parts}}
    assert len(parents) == 2
    assert all(units[p["lead_unit"]]["parent"] == parents[p["parent"]]["lead_unit"] for p in parts)


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    records = sample_county(scheme_text=_scheme_text("haiyang"), year=2026, until=date(2026, 2, 28))
    path = tmp_path / "ledger.jsonl"
    write_jsonl(records, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    assert '"name":"城关镇"' in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes, and compact


@pytest.mark.parametrize("name", ["default", "yingjisha", "wenshang", "ningqiang", "haiyang"])
def test_a_few_units_have_their_own_targets(name: str) -> None:
    scheme = load_scheme(_scheme_text(name))
    records = sample_county(scheme_text=_scheme_text(name), year=2026)
    own = [r for r in records if r["type"] == "target"]
    assert 3 <= len(own) <= 10 and len({r["unit"] for r in own}) >= 3
    differ = {r["target"] > scheme.metric(r["metric"]).target for r in own}
    assert differ == {True, False}  # some units are asked more than the scheme, some less


def test_some_progress_reports_are_missed(default_records: list[dict[str, Any]]) -> None:
    """Periodic tasks report in most periods, not in all: the lapses the dashboard and reminders show."""
    scheme = load_scheme(_scheme_text())
    cutoff = datetime(2026, 12, 31, 23, 59, 59, tzinfo=scheme.tz)
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in default_records:
        if r["type"] == "task_event":
            history[r["task"]].append(r)
    periods = missed = 0
    for task in (r for r in default_records if r["type"] == "task"):
        every = scheme.task_types[task["task_type"]].progress_every
        if every is None:
            continue
        assigned = _instant(task["assigned_at"])
        limit = scheme.task_types[task["task_type"]].limit
        due = (
            _instant(task["due_at"])
            if "due_at" in task
            else due_at(assigned_at=assigned, limit=limit, calendar=scheme.calendar(), tz=scheme.tz)
        )
        events = history[task["id"]]
        reports = [_instant(e["at"]) for e in events if e["kind"] in ("progress", "report")]
        ends = [_instant(e["at"]) for e in events if e["kind"] in ("report", "close", "cancel")]
        end = min([*ends, cutoff])
        previous = assigned
        deadlines = progress_deadlines(
            assigned_at=assigned, due_at=due, every=every, calendar=scheme.calendar(), tz=scheme.tz
        )
        for deadline in (d for d in deadlines if d < end):
            periods += 1
            missed += not any(previous < at <= deadline for at in reports)
            previous = deadline
    assert periods > 50
    assert 0.02 * periods < missed < 0.2 * periods


def test_the_notify_example_loads_and_names_only_the_sample_countys_units(
    default_records: list[dict[str, Any]],
) -> None:
    config = load_notify_config(NOTIFY_EXAMPLE)
    assert {c.format for c in config.channels} == {"json", "wecom", "dingtalk"}
    assert any(c.escalate for c in config.channels)
    named = {u for c in config.channels for u in c.units}
    assert {"*", "department", "township"} <= named
    check_units(config, units={r["id"]: r["category"] for r in default_records if r["type"] == "unit"})
