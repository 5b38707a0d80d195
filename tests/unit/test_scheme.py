"""Loading and validating schemes (考核方案): every rule refused with its key and rule named."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument, NotFound, SchemeInvalid
from services.common.limits import Limit
from services.common.scheme import (
    MetricNotFound,
    Scheme,
    check_applies_to,
    load_scheme,
    load_scheme_file,
)
from tests.conftest import example_path

from .scoring_builders import base_scheme_doc, dump_toml

EXAMPLE = example_path("scheme.toml")

Doc = dict[str, Any]


def metric(**overrides: Any) -> Doc:
    m: Doc = {
        "id": "rate",
        "name": "率",
        "kind": "ratio",
        "direction": "min",
        "rule": "threshold",
        "target": 1.0,
        "points": 20,
    }
    m.update(overrides)
    return {k: v for k, v in m.items() if v is not None}


def violations_of(change: Callable[[Doc], None]) -> dict[str, str]:
    """The violations (field -> description) of the base scheme after change."""
    doc = copy.deepcopy(base_scheme_doc())
    change(doc)
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme(dump_toml(doc))
    assert isinstance(caught.value, InvalidArgument)
    return {v.field: v.description for v in caught.value.violations}


def refused(change: Callable[[Doc], None], field: str, *words: str) -> None:
    found = violations_of(change)
    assert field in found, found
    for word in words:
        assert word in found[field], (field, found[field])


def with_metrics(*metrics: Doc) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        doc["metrics"] = list(metrics)

    return change


def setting(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    return change


def removing(path: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        del node[last]

    return change


# --- what loads -------------------------------------------------------------------------------


def test_the_example_scheme_loads() -> None:
    s = load_scheme_file(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert (s.id, s.year, s.timezone) == ("example-2025", 2025, "Asia/Shanghai")
    assert s.text == text and s.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert load_scheme_file(str(EXAMPLE)).sha256 == s.sha256 == load_scheme(text).sha256
    assert s.extra_holidays == (date(2025, 6, 6),) and s.extra_workdays == ()
    assert s.task_types["leader_directive"].limit == Limit(7, "working_days")
    assert s.task_types["major_item"].progress_every == Limit(3, "months")
    assert s.task_types["emergency_call"].progress_every is None
    assert s.timeliness.priority_weights == {"normal": 1.0, "important": 2.0}
    assert [m.id for m in s.metrics] == [
        "court_appearance_rate",
        "livelihood_spending_share",
        "field_research_days",
        "unannounced_visit_share",
    ]
    research = s.metric("field_research_days")
    assert (research.kind, research.aggregate, research.rule, research.floor, research.target) == (
        "value",
        "sum",
        "linear",
        30.0,
        60.0,
    )
    assert research.applies_to == ("department", "township")
    assert s.metric("court_appearance_rate").applies_to == ()
    assert s.accountability.kinds["disciplinary"].veto and not s.accountability.kinds["interview"].veto
    assert s.error_reports.deductions["grave"] == 2.0 and s.incentives.points["county"] == 0.5
    assert s.grades.excellent_quota == 0.2 and s.appeal_window_working_days == 5
    assert str(s.tz) == "Asia/Shanghai"


def test_sha256_is_of_the_exact_text() -> None:
    text = dump_toml(base_scheme_doc())
    a, b = load_scheme(text), load_scheme(text)
    assert a.sha256 == b.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert a == b and hash(a) == hash(b)
    # A comment changes the text and so the digest, though not the rules.
    assert load_scheme(text + "# 注释\n").sha256 != a.sha256


def test_calendar_is_new_each_time_and_carries_the_extra_days() -> None:
    doc = base_scheme_doc()
    doc["calendar"] = {"extra_holidays": ["2025-06-06"], "extra_workdays": [date(2025, 6, 7)]}
    s = load_scheme(dump_toml(doc))
    c1, c2 = s.calendar(), s.calendar()
    assert c1 is not c2
    assert not c1.is_working_day(date(2025, 6, 6))  # a Friday made a local holiday
    assert c1.is_working_day(date(2025, 6, 7))  # a Saturday made a working day


GRADES = "[grades]\nexcellent_min = 90\nexcellent_quota = 0.2\ngood_min = 80\npass_min = 60\n"


def test_minimal_scheme_takes_the_documented_defaults() -> None:
    s = load_scheme('[scheme]\nid = "m"\nname = "最小"\nyear = 2025\n' + GRADES)
    assert s.timezone == "Asia/Shanghai" and s.extra_holidays == () and s.task_types == {}
    assert s.timeliness.points == 0 and s.timeliness.priority_weights == {"normal": 1.0}
    assert s.timeliness.yellow_threshold == 0.8 and s.timeliness.co_unit_weight == 1.0
    assert s.metrics == () and s.error_reports.cap == 0 and s.error_reports.mitigation_factor == 1.0
    assert s.incentives.cap == 0 and s.accountability.kinds == {}
    assert (s.grades.excellent_min, s.grades.good_min, s.grades.pass_min, s.grades.excellent_quota) == (
        90,
        80,
        60,
        0.2,
    )
    assert s.appeal_window_working_days == 5


def test_the_grade_bands_come_from_the_scheme() -> None:
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme('[scheme]\nid = "m"\nname = "最小"\nyear = 2025\n')
    assert [(v.field, v.description) for v in caught.value.violations] == [("grades", "缺少必需的节")]
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme(
            '[scheme]\nid = "m"\nname = "最小"\nyear = 2025\n' + GRADES.replace("good_min = 80\n", "")
        )
    assert [v.field for v in caught.value.violations] == ["grades.good_min"]


def test_metric_defaults_and_lookup() -> None:
    doc = base_scheme_doc()
    doc["metrics"] = [
        {"id": "days", "kind": "value", "aggregate": "sum", "rule": "threshold", "target": 5, "points": 1}
    ]
    s = load_scheme(dump_toml(doc))
    m = s.metric("days")
    assert (m.name, m.direction, m.applies_to, m.floor) == ("days", "min", (), None)
    with pytest.raises(MetricNotFound) as caught:
        s.metric("nope")
    assert isinstance(caught.value, NotFound) and isinstance(caught.value, KeyError)
    assert "nope" in str(caught.value)


def test_dates_may_be_toml_dates_or_iso_strings() -> None:
    s = load_scheme(
        '[scheme]\nid = "m"\nname = "n"\nyear = 2025\n'
        '[calendar]\nextra_holidays = [2025-06-06, "2025-06-09"]\n' + GRADES
    )
    assert s.extra_holidays == (date(2025, 6, 6), date(2025, 6, 9))


# --- what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (setting("timeliness.pointz", 1), "timeliness.pointz"),
        (setting("scheme.owner", "x"), "scheme.owner"),
        (setting("extra", {"a": 1}), "extra"),
        (setting("calendar.holidays", []), "calendar.holidays"),
        (
            setting("task_types.letter", {"limit": {"amount": 1, "unit": "hours", "every": 2}}),
            "task_types.letter.limit.every",
        ),
        (
            setting("task_types.letter", {"limit": {"amount": 1, "unit": "hours"}, "colour": "red"}),
            "task_types.letter.colour",
        ),
        (with_metrics(metric(weight=3)), "metrics[0].weight"),
        (setting("errors.ceiling", 3), "errors.ceiling"),
        (
            setting("accountability.kinds", {"interview": {"deduction": 1, "vetoes": True}}),
            "accountability.kinds.interview.vetoes",
        ),
        (setting("grades.excellent_max", 100), "grades.excellent_max"),
        (setting("runs.appeal_days", 5), "runs.appeal_days"),
    ],
)
def test_unknown_keys_are_refused(change: Callable[[Doc], None], field: str) -> None:
    refused(change, field, "未知的键")


@pytest.mark.parametrize(
    ("change", "field", "word"),
    [
        (setting("scheme.year", "2025"), "scheme.year", "整数"),
        (setting("scheme.year", 2025.0), "scheme.year", "整数"),
        (setting("scheme.id", 7), "scheme.id", "字符串"),
        (setting("timeliness.points", "40"), "timeliness.points", "数字"),
        (setting("timeliness.points", True), "timeliness.points", "数字"),
        (setting("timeliness", 40), "timeliness", "表"),
        (
            setting("timeliness.priority_weights", {"normal": "1"}),
            "timeliness.priority_weights.normal",
            "数字",
        ),
        (
            setting("accountability.kinds", {"x": {"deduction": 1, "veto": "yes"}}),
            "accountability.kinds.x.veto",
            "true 或 false",
        ),
        (setting("calendar.extra_holidays", "2025-06-06"), "calendar.extra_holidays", "数组"),
        (with_metrics(metric(applies_to="czj")), "metrics[0].applies_to", "数组"),
        (with_metrics(metric(applies_to=["czj", 3])), "metrics[0].applies_to[1]", "字符串"),
        (with_metrics(metric(target="1")), "metrics[0].target", "数字"),
        (setting("metrics", {"id": "x"}), "metrics", "表的数组"),
        (
            setting("task_types.letter", {"limit": {"amount": 1.5, "unit": "hours"}}),
            "task_types.letter.limit.amount",
            "整数",
        ),
        (setting("task_types.letter", {"limit": 3}), "task_types.letter.limit", "表"),
        (setting("runs.appeal_window_working_days", 2.5), "runs.appeal_window_working_days", "整数"),
    ],
)
def test_wrong_types_are_refused(change: Callable[[Doc], None], field: str, word: str) -> None:
    refused(change, field, word)


@pytest.mark.parametrize(
    "path",
    [
        "timeliness.points",
        "timeliness.late_penalty_per_working_day",
        "timeliness.co_unit_weight",
        "timeliness.priority_weights.important",
        "errors.cap",
        "errors.deductions.grave",
        "incentives.cap",
        "incentives.points.national",
        "accountability.cap",
        "runs.appeal_window_working_days",
    ],
)
def test_negative_numbers_are_refused(path: str) -> None:
    refused(
        setting(path, -1), path, "不得为负数" if path != "runs.appeal_window_working_days" else "须至少为 0"
    )


def test_negative_points_and_deductions_in_tables_are_refused() -> None:
    refused(with_metrics(metric(points=-5)), "metrics[0].points", "负数")
    refused(
        setting("accountability.kinds", {"interview": {"deduction": -1}}),
        "accountability.kinds.interview.deduction",
        "不得为负数",
    )


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    refused(setting("timeliness.points", bad), "timeliness.points", "有限数")
    refused(with_metrics(metric(target=bad)), "metrics[0].target", "有限数")
    refused(setting("grades.good_min", bad), "grades.good_min", "有限数")


def test_linear_rule_needs_a_usable_floor() -> None:
    refused(with_metrics(metric(rule="linear")), "metrics[0].floor", "必需", "linear")
    refused(with_metrics(metric(rule="linear", floor=1.0, target=1.0)), "metrics[0].floor", "与 target 不同")
    refused(with_metrics(metric(rule="linear", floor=2.0, target=1.0)), "metrics[0].floor", "须低于 target")
    refused(
        with_metrics(metric(rule="linear", direction="max", floor=0.5, target=1.0)),
        "metrics[0].floor",
        "须高于 target",
    )
    refused(with_metrics(metric(rule="threshold", floor=0.5)), "metrics[0].floor", "只用于")
    load_scheme(dump_toml({**base_scheme_doc(), "metrics": [metric(rule="linear", floor=0.5)]}))
    load_scheme(
        dump_toml(
            {**base_scheme_doc(), "metrics": [metric(rule="linear", direction="max", floor=2, target=1)]}
        )
    )


@pytest.mark.parametrize("target", [0, -0.5])
def test_proportional_target_must_be_positive(target: float) -> None:
    refused(with_metrics(metric(rule="proportional", target=target)), "metrics[0].target", "须大于 0")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("grades.excellent_quota", 1.2),
        ("grades.excellent_quota", -0.1),
        ("timeliness.yellow_threshold", 1.01),
        ("timeliness.yellow_threshold", -0.2),
        ("errors.mitigation_factor", 1.5),
        ("errors.mitigation_factor", -0.5),
    ],
)
def test_shares_outside_0_to_1_are_refused(path: str, value: float) -> None:
    refused(setting(path, value), path, "须在 0 到 1 之间")


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_shares_at_the_bounds_are_fine(value: float) -> None:
    doc = base_scheme_doc()
    doc["grades"]["excellent_quota"] = value
    doc["errors"]["mitigation_factor"] = value
    doc["timeliness"]["yellow_threshold"] = value
    load_scheme(dump_toml(doc))


def test_limits_are_checked() -> None:
    refused(
        setting("task_types.letter", {"limit": {"amount": 0, "unit": "hours"}}),
        "task_types.letter.limit.amount",
        "须至少为 1",
    )
    refused(
        setting("task_types.countersign", {"limit": {"amount": 5, "unit": "weeks"}}),
        "task_types.countersign.limit.unit",
        "未知的值",
        "working_days",
    )
    refused(setting("task_types.letter", {"name": "x"}), "task_types.letter.limit", "必需")
    refused(
        setting(
            "task_types.letter", {"limit": {"amount": 1, "unit": "hours"}, "progress_every": {"amount": 1}}
        ),
        "task_types.letter.progress_every.unit",
        "必需",
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("kind", "share"), ("aggregate", "median"), ("direction", "up"), ("rule", "step")],
)
def test_unknown_choices_are_refused(key: str, value: str) -> None:
    m = metric(kind="value", aggregate="sum")
    m[key] = value
    refused(with_metrics(m), f"metrics[0].{key}", "未知的值", value)


def test_value_metric_needs_an_aggregate_and_ratio_takes_none() -> None:
    refused(with_metrics(metric(kind="value")), "metrics[0].aggregate", "必需", "value")
    refused(with_metrics(metric(kind="ratio", aggregate="sum")), "metrics[0].aggregate", "只用于")


def test_required_metric_keys() -> None:
    found = violations_of(with_metrics({"name": "x"}))
    for key in ("id", "kind", "rule", "target", "points"):
        assert found[f"metrics[0].{key}"] == "缺少必需的键"


def test_duplicate_metric_ids_are_refused() -> None:
    refused(with_metrics(metric(), metric(id="other"), metric()), "metrics[2].id", "重复", "metrics[0]")


def test_invalid_timezone_is_refused() -> None:
    refused(setting("scheme.timezone", "Asia/Beijing"), "scheme.timezone", "未知时区")
    refused(setting("scheme.timezone", "../etc/passwd"), "scheme.timezone", "未知时区")


@pytest.mark.parametrize("bad", ["2025-02-30", "2025/06/06", "20250606", "next monday"])
def test_invalid_dates_are_refused(bad: str) -> None:
    refused(setting("calendar.extra_workdays", ["2025-06-07", bad]), "calendar.extra_workdays[1]", "ISO 日期")


def test_grades_must_be_ordered() -> None:
    refused(setting("grades.pass_min", 85), "grades.pass_min", "good_min")
    refused(setting("grades.good_min", 95), "grades.good_min", "excellent_min")
    doc = base_scheme_doc()
    doc["grades"].update(excellent_min=80, good_min=80, pass_min=80)
    load_scheme(dump_toml(doc))


@pytest.mark.parametrize("key", ["id", "name", "year"])
def test_scheme_head_is_required(key: str) -> None:
    refused(removing(f"scheme.{key}"), f"scheme.{key}", "必需")


def test_missing_scheme_section_and_present_sections_need_their_numbers() -> None:
    refused(removing("scheme"), "scheme", "必需的节")
    refused(removing("timeliness.points"), "timeliness.points", "必需")
    refused(removing("errors.mitigation_factor"), "errors.mitigation_factor", "必需")
    refused(removing("accountability.cap"), "accountability.cap", "必需")
    refused(
        setting("accountability.kinds", {"interview": {}}),
        "accountability.kinds.interview.deduction",
        "必需",
    )


def test_every_violation_of_a_file_is_reported_at_once() -> None:
    def many(doc: Doc) -> None:
        doc["timeliness"]["pointz"] = 1
        doc["grades"]["excellent_quota"] = 2
        doc["errors"]["cap"] = -1
        doc["metrics"] = [metric(rule="linear"), metric(id="b", kind="value")]

    found = violations_of(many)
    assert {
        "timeliness.pointz",
        "grades.excellent_quota",
        "errors.cap",
        "metrics[0].floor",
        "metrics[1].aggregate",
    } <= set(found)
    with pytest.raises(SchemeInvalid) as caught:
        doc = copy.deepcopy(base_scheme_doc())
        many(doc)
        load_scheme(dump_toml(doc))
    # The message names each key and its rule, so a CLI can print it as it is.
    assert "timeliness.pointz: 未知的键" in str(caught.value)


def test_quoted_keys_are_named_quoted() -> None:
    refused(
        setting("timeliness.priority_weights", {"很 重要": -1}),
        'timeliness.priority_weights."很 重要"',
        "不得为负数",
    )


def test_toml_syntax_error_names_the_source() -> None:
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme("[scheme\nid = 1", source="schemes/x.toml")
    (v,) = caught.value.violations
    assert v.field == "schemes/x.toml" and "TOML" in v.description


def test_a_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    text = dump_toml(base_scheme_doc())
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_scheme_file(path).sha256 == load_scheme(text).sha256


def test_unreadable_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme_file(missing)
    assert caught.value.violations[0].field == str(missing)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme_file(binary)
    assert (
        caught.value.violations[0].field == str(binary) and "UTF-8" in caught.value.violations[0].description
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("[scheme]\nid = \n", encoding="utf-8")
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme_file(broken)
    assert caught.value.violations[0].field == str(broken)


def test_applies_to_is_checked_against_the_units_at_run_time() -> None:
    doc = base_scheme_doc()
    doc["metrics"] = [
        metric(applies_to=["czj", "township", "bureau"]),
        metric(id="b", applies_to=["department", "ghost"]),
    ]
    s: Scheme = load_scheme(dump_toml(doc))
    check_applies_to(s, unit_ids={"czj", "ghost"}, categories={"department", "bureau"})
    with pytest.raises(SchemeInvalid) as caught:
        check_applies_to(s, unit_ids={"czj", "fgj"}, categories={"department"})
    fields = {v.field: v.description for v in caught.value.violations}
    # department and township are every county's categories, named before any unit of theirs exists;
    # another category must be one a unit has.
    assert set(fields) == {"metrics[0].applies_to[2]", "metrics[1].applies_to[1]"}
    assert "“ghost”" in fields["metrics[1].applies_to[1]"]
