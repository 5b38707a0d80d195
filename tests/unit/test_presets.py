"""The county presets in schemes/: they load, carry the shared ids, and cite the clause of every number."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from services.cli.sample import DEPARTMENTS, TOWNSHIPS
from services.common.calendar import WorkCalendar
from services.common.limits import Limit
from services.common.scheme import Scheme, load_scheme

SCHEMES = Path(__file__).resolve().parents[2] / "schemes"
PRESETS = {
    "default": "default-2026",
    "yingjisha": "yingjisha-2026",
    "wenshang": "wenshang-2026",
    "ningqiang": "ningqiang-2026",
    "haiyang": "haiyang-2026",
}
COUNTIES = ("英吉沙", "汶上", "宁强", "增强县政", "海阳")
STANDARD_TASK_TYPES = {
    "instruction_relay",
    "urgent_document",
    "emergency_call",
    "emergency_written",
    "leader_directive",
    "meeting_decision",
    "draft_revision",
    "countersign",
    "supervision_letter",
    "supporting_document",
    "major_item",
}
ACCOUNTABILITY_KINDS = {"interview", "circulated_criticism", "admonishment", "disciplinary"}


def _text(name: str) -> str:
    return (SCHEMES / f"{name}.toml").read_text(encoding="utf-8")


def _load(name: str) -> Scheme:
    return load_scheme(_text(name), source=f"{name}.toml")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_loads_with_its_id_for_2026(name: str) -> None:
    scheme = _load(name)
    assert scheme.id == PRESETS[name]
    assert scheme.year == 2026
    assert scheme.timezone == "Asia/Shanghai"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_carries_the_shared_ids(name: str) -> None:
    scheme = _load(name)
    assert set(scheme.task_types) >= STANDARD_TASK_TYPES
    assert set(scheme.timeliness.priority_weights) == {"normal", "important", "urgent"}
    assert set(scheme.error_reports.deductions) == {"general", "serious", "grave"}
    assert set(scheme.incentives.points) == {"national", "provincial", "municipal", "county"}
    assert set(scheme.accountability.kinds) == ACCOUNTABILITY_KINDS
    assert [k for k, v in scheme.accountability.kinds.items() if v.veto] == ["disciplinary"]
    assert scheme.task_types["major_item"].progress_every is not None
    assert {"field_research_days"} <= {m.id for m in scheme.metrics}


def test_default_is_a_superset_of_every_county_preset() -> None:
    default = _load("default")
    for name in PRESETS:
        scheme = _load(name)
        assert set(scheme.task_types) <= set(default.task_types), name
        assert {m.id for m in scheme.metrics} <= {m.id for m in default.metrics}, name
    assert {
        "court_appearance_rate",
        "livelihood_spending_share",
        "field_research_days",
        "unannounced_visit_share",
        "petition_reception_days",
        "hotline_resolution_rate",
    } <= {m.id for m in default.metrics}
    assert "hotline_request" in default.task_types


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_applies_to_names_only_categories_or_units_of_the_sample_county(name: str) -> None:
    known = {"department", "township"} | {u for u, _ in DEPARTMENTS} | {u for u, _ in TOWNSHIPS}
    for metric in _load(name).metrics:
        assert set(metric.applies_to) <= known, metric.id


def test_limits_taken_from_the_seed_clauses() -> None:
    ningqiang = _load("ningqiang")
    limits = {k: t.limit for k, t in ningqiang.task_types.items()}
    assert limits["instruction_relay"] == Limit(1, "hours")  # 宁强 4
    assert limits["urgent_document"] == Limit(1, "hours")  # 宁强 4
    assert limits["emergency_call"] == Limit(15, "minutes")  # 宁强 6
    assert limits["emergency_written"] == Limit(30, "minutes")  # 宁强 6
    assert limits["draft_revision"] == Limit(5, "working_days")  # 宁强 4
    assert limits["leader_directive"] == Limit(7, "working_days")  # 宁强 5
    assert limits["meeting_decision"] == Limit(7, "working_days")  # 宁强 5
    assert limits["supporting_document"] == Limit(3, "months")  # 宁强 4
    assert limits["supporting_document_draft"] == Limit(2, "months")  # 宁强 4
    assert _load("wenshang").task_types["countersign"].limit == Limit(5, "working_days")  # 汶上 十一
    haiyang = _load("haiyang")
    assert haiyang.task_types["countersign"].limit == Limit(3, "working_days")  # 海阳 14
    assert haiyang.task_types["minutes_signoff"].limit == Limit(3, "working_days")  # 海阳 14
    assert haiyang.task_types["supervision_letter"].limit == Limit(3, "working_days")  # 海阳 9
    assert haiyang.task_types["major_item"].progress_every == Limit(3, "months")  # 海阳 18


def test_targets_taken_from_the_seed_clauses() -> None:
    assert _load("haiyang").metric("court_appearance_rate").target == 1.0  # 海阳 26
    yingjisha = _load("yingjisha")
    livelihood = yingjisha.metric("livelihood_spending_share")  # 英吉沙 10
    assert (livelihood.target, livelihood.direction, livelihood.applies_to) == (0.75, "min", ("czj",))
    assert yingjisha.metric("unannounced_visit_share").target == 0.5  # 英吉沙 11
    assert yingjisha.metric("field_research_days").target == 60  # 英吉沙 11: 2个月
    assert yingjisha.metric("petition_reception_days").target == 12  # 英吉沙 13: 每月1天
    assert _load("ningqiang").metric("field_research_days").target == 60  # 宁强 14
    meetings = _load("wenshang").metric("county_meetings")  # 汶上 十: 不超过1次
    assert (meetings.direction, meetings.target) == ("max", 1)


def test_yingjisha_local_holidays_fall_on_statutory_working_days_of_2026() -> None:
    scheme = _load("yingjisha")
    assert scheme.extra_holidays
    plain = WorkCalendar()
    for d in scheme.extra_holidays:
        assert d.year == 2026
        assert plain.is_working_day(d), d  # otherwise the local holiday would change nothing
        assert not scheme.calendar().is_working_day(d)
    comment = _text("yingjisha").split("[calendar]")[1].split("extra_holidays")[0]
    assert "古尔邦节" in comment and "肉孜节" in comment and "checked" in comment
    assert date(2026, 3, 20) in scheme.extra_holidays


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each [header] line with the lines up to the next header."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("["):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_task_type_and_metric_cites_a_seed_on_its_header_line(name: str) -> None:
    blocks = [
        (header, body)
        for header, body in _blocks(_text(name))
        if header.startswith("[task_types.") or header.startswith("[[metrics]]")
    ]
    assert len(blocks) == len(_load(name).task_types) + len(_load(name).metrics)
    for header, _ in blocks:
        assert "#" in header, header
        comment = header.split("#", 1)[1]
        assert any(county in comment for county in COUNTIES), header


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_number_section_says_where_its_numbers_come_from(name: str) -> None:
    for header, body in _blocks(_text(name)):
        if header.split("#")[0].strip() in (
            "[errors]",
            "[incentives]",
            "[accountability]",
            "[grades]",
            "[runs]",
        ):
            comments = " ".join([header, *body])
            assert re.search("自定|chosen|silent", comments) or any(c in comments for c in COUNTIES), header


SEED_CLAUSE = re.compile(r"(英吉沙|汶上|宁强|海阳) ?([0-9]+|[一二三四五六七八九十]+)|增强县政")
# The kinds a seed clause really names; every other kind, and every 一票否决, is the county's own.
KINDS_THE_SEEDS_NAME = {"interview": "海阳 19", "circulated_criticism": "汶上 十"}
NUMBER = re.compile(r"^([a-z_]+) = (-?[0-9][0-9_.]*|\{ *amount = )")


def _numeric_lines(text: str) -> list[tuple[str, str, str]]:
    """(block header, key, comment) for every key whose value is a number or an amount."""
    out: list[tuple[str, str, str]] = []
    for header, body in _blocks(text):
        for line in body:
            m = NUMBER.match(line)
            if m and m.group(1) != "year":
                comment = line.split("#", 1)[1] if "#" in line else ""
                if m.group(1) == "limit" and not comment:  # a task type's header cites its limit
                    comment = header.split("#", 1)[1] if "#" in header else ""
                out.append((header, m.group(1), comment))
    return out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_number_cites_a_seed_clause_or_says_it_is_the_countys_own(name: str) -> None:
    lines = _numeric_lines(_text(name))
    assert len(lines) > 40
    for header, key, comment in lines:
        assert SEED_CLAUSE.search(comment) or "自定" in comment, (header, key)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_veto_and_unnamed_accountability_kinds_are_the_countys_own(name: str) -> None:
    scheme = _load(name)
    headers = {
        h.split("#")[0].strip()[len("[accountability.kinds.") : -1]: h.split("#", 1)[1] if "#" in h else ""
        for h, _ in _blocks(_text(name))
        if h.startswith("[accountability.kinds.")
    }
    assert set(headers) == set(scheme.accountability.kinds)
    for kind, comment in headers.items():
        if scheme.accountability.kinds[kind].veto:
            assert "一票否决自定" in comment, kind
        elif kind in KINDS_THE_SEEDS_NAME:
            assert KINDS_THE_SEEDS_NAME[kind] in comment or "自定" in comment, kind
        else:
            assert "自定" in comment, kind


def test_the_number_check_fails_when_a_comment_is_removed() -> None:
    lines = _text("haiyang").splitlines()
    stripped = "\n".join(x.split("#", 1)[0] if x.startswith("yellow_threshold") else x for x in lines)
    bad = [k for _, k, c in _numeric_lines(stripped) if not (SEED_CLAUSE.search(c) or "自定" in c)]
    assert bad == ["yellow_threshold"]
