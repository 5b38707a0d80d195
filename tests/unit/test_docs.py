"""The documentation keeps up with the code: every scheme key, ledger field, command, variable and metric."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MANUAL = DOCS / "manual"
SCHEME_FILES = [*sorted((ROOT / "schemes").glob("*.toml")), ROOT / "tests" / "data" / "scheme.toml"]

# Tables whose keys are names a county chooses (task type ids, accountability kinds): the keys
# inside them are the format's, the names themselves are not.
NAMED_TABLES = {"task_types", "accountability.kinds"}
# Tables of name → number whose names the format fixes as examples (severities, levels, priorities).
NAMED_VALUES = {"errors.deductions", "incentives.points", "timeliness.priority_weights"}

# The scheme as the contract (docs/spec/FORMATS.md) lists it, for keys no preset happens to use.
CONTRACT_SCHEME_KEYS = {
    "scheme": {"id", "name", "year", "timezone"},
    "calendar": {"extra_holidays", "extra_workdays"},
    "task_types.*": {"name", "limit", "progress_every"},
    "task_types.*.limit": {"amount", "unit"},
    "task_types.*.progress_every": {"amount", "unit"},
    "timeliness": {
        "points",
        "late_penalty_per_working_day",
        "yellow_threshold",
        "co_unit_weight",
        "priority_weights",
    },
    "metrics": {
        "id",
        "name",
        "kind",
        "aggregate",
        "direction",
        "rule",
        "target",
        "floor",
        "points",
        "applies_to",
    },
    "errors": {"cap", "mitigation_factor", "deductions"},
    "incentives": {"cap", "points"},
    "accountability": {"cap", "kinds"},
    "accountability.kinds.*": {"deduction", "veto"},
    "grades": {"excellent_min", "excellent_quota", "good_min", "pass_min"},
    "runs": {"appeal_window_working_days"},
}
SCHEME_CHOICES = {
    "minutes",
    "hours",
    "working_days",
    "calendar_days",
    "months",
    "ratio",
    "value",
    "sum",
    "mean",
    "max",
    "min",
    "last",
    "threshold",
    "proportional",
    "linear",
}

# Every record type of the ledger and its fields, as the contract fixes them (the scoring records'
# field table is private to services/scoring/records.py; the tasks importer's is checked below).
LEDGER_FIELDS = {
    "unit": {"type", "id", "name", "category", "parent"},
    "person": {"type", "id", "name", "unit", "post", "leader", "mobile"},
    "task": {
        "type",
        "id",
        "title",
        "task_type",
        "lead_unit",
        "co_units",
        "priority",
        "assigned_at",
        "due_at",
        "source",
        "responsible",
        "leader",
        "parent",
    },
    "task_event": {"type", "task", "kind", "at", "by", "note", "due_at"},
    "error_report": {"type", "id", "unit", "date", "category", "severity", "description"},
    "metric_reading": {"type", "unit", "metric", "period", "value", "numerator", "denominator"},
    "incentive": {"type", "id", "unit", "date", "level", "reason"},
    "tolerance": {"type", "id", "unit", "target_type", "target", "decision", "date", "reason"},
    "accountability": {"type", "id", "unit", "date", "kind", "reason"},
    "appeal": {"type", "id", "target_type", "target", "error_report", "date", "upheld", "reason"},
    "target": {"type", "unit", "metric", "year", "target", "floor"},
}
LEDGER_CHOICES = {
    "tolerance": {"task", "error_report", "exempt", "mitigate"},
    "appeal": {"error_report", "accountability"},
}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def walk(table: dict[str, Any], path: str) -> Iterator[tuple[str, str, Any]]:
    """(section pattern, key, value) of every key under table; chosen names become `*`."""
    for key, value in table.items():
        yield path, key, value
        if path in NAMED_VALUES:
            continue
        child = f"{path}.*" if path in NAMED_TABLES else (f"{path}.{key}" if path else key)
        if isinstance(value, dict):
            yield from walk(value, child if path not in NAMED_TABLES else f"{path}.*")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                yield from walk(item, child)


def scheme_keys() -> dict[str, set[str]]:
    """Every key the presets and the worked example use, by section, with the contract's."""
    found: dict[str, set[str]] = {section: set(keys) for section, keys in CONTRACT_SCHEME_KEYS.items()}
    for path in SCHEME_FILES:
        for section, key, _ in walk(tomllib.loads(read(path)), ""):
            if section and section not in NAMED_TABLES and section not in NAMED_VALUES:
                found.setdefault(section, set()).add(key)
    return found


def named_values() -> set[str]:
    """Severity, level and priority names the presets use."""
    names: set[str] = set()
    for path in SCHEME_FILES:
        doc = tomllib.loads(read(path))
        for dotted in NAMED_VALUES:
            table: Any = doc
            for part in dotted.split("."):
                table = table.get(part, {}) if isinstance(table, dict) else {}
            names |= set(table)
    return names


def rows(text: str) -> set[str]:
    """The first cell of every table row that names a `key`."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


def test_the_scheme_files_are_read() -> None:
    keys = scheme_keys()
    assert {"scheme", "metrics", "grades", "task_types.*.limit"} <= set(keys)
    assert "urgent" in named_values()


@pytest.mark.parametrize("section", sorted(CONTRACT_SCHEME_KEYS))
def test_every_scheme_key_has_a_row_in_the_manual(section: str) -> None:
    documented = rows(read(MANUAL / "scheme.md"))
    missing = sorted(scheme_keys()[section] - documented)
    assert not missing, f"docs/manual/scheme.md has no row for [{section}] {missing}"


def test_every_scheme_section_found_in_the_files_is_documented() -> None:
    text = read(MANUAL / "scheme.md")
    documented = rows(text)
    for section, keys in scheme_keys().items():
        assert keys <= documented, f"[{section}]: {sorted(keys - documented)} undocumented"
    for heading in ("[scheme]", "[calendar]", "[task_types.", "[timeliness]", "[[metrics]]", "[errors]"):
        assert f"`{heading}" in text, heading
    for heading in ("[incentives]", "[accountability]", "[accountability.kinds.", "[grades]", "[runs]"):
        assert f"`{heading}" in text, heading


def test_every_choice_and_named_value_of_the_scheme_is_documented() -> None:
    text = read(MANUAL / "scheme.md")
    missing = sorted(name for name in SCHEME_CHOICES | named_values() if f"`{name}`" not in text)
    assert not missing, f"docs/manual/scheme.md never names {missing}"


def test_the_scheme_validator_refuses_an_undocumented_key() -> None:
    # The manual says an unknown key is refused: the validator is what makes that true.
    from services.common.errors import SchemeInvalid
    from services.common.scheme import load_scheme

    text = read(ROOT / "tests" / "data" / "scheme.toml").replace("[runs]\n", "[runs]\nundocumented = 1\n")
    with pytest.raises(SchemeInvalid, match="未知的键"):
        load_scheme(text)


def ledger_sections() -> dict[str, str]:
    """The text of each record type's section of docs/manual/ledger.md, by type."""
    text = read(MANUAL / "ledger.md")
    parts = re.split(r"^### `([a-z_]+)`.*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_code_has_no_record_type_or_field_the_test_does_not_know() -> None:
    from services.common.vocabulary import RECORD_KINDS as KINDS
    from services.tasks.ledger import FIELDS

    assert set(KINDS) <= set(LEDGER_FIELDS)
    for kind, (required, allowed) in FIELDS.items():
        assert required | allowed <= LEDGER_FIELDS[kind], kind


@pytest.mark.parametrize("kind", sorted(LEDGER_FIELDS))
def test_every_ledger_field_has_a_row_in_its_section(kind: str) -> None:
    sections = ledger_sections()
    assert kind in sections, f"docs/manual/ledger.md has no section ### `{kind}`"
    missing = sorted(LEDGER_FIELDS[kind] - rows(sections[kind]))
    assert not missing, f"docs/manual/ledger.md, {kind}: no row for {missing}"


def test_every_ledger_choice_is_documented() -> None:
    from services.scoring.records import ERROR_CATEGORIES
    from services.tasks.ledger import EVENT_KINDS

    sections = ledger_sections()
    wanted = {"task_event": set(EVENT_KINDS), "error_report": set(ERROR_CATEGORIES), **LEDGER_CHOICES}
    for kind, names in wanted.items():
        missing = sorted(name for name in names if f"`{name}`" not in sections[kind])
        assert not missing, f"docs/manual/ledger.md, {kind}: never names {missing}"


def test_every_scoring_rule_has_its_section_and_a_worked_example() -> None:
    contract = re.findall(r"^## (\d+)\. ", read(DOCS / "spec" / "SCORING.md"), flags=re.MULTILINE)
    manual = read(MANUAL / "scoring.md")
    parts = re.split(r"^## (\d+)\. .*$", manual, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert contract and sorted(sections, key=int) == contract
    for number, body in sections.items():
        if number != "9":  # runs are states, not a computation: the workflow shows them
            assert "算例" in body, f"docs/manual/scoring.md §{number} has no worked example"


def commands() -> Iterator[tuple[str, str]]:
    """(command, subcommand or "") of the kaohe parser."""
    import argparse

    from services.cli.main import parser

    def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    for name, sub in subparsers(parser()).items():
        nested = subparsers(sub)
        if not nested:
            yield name, ""
        for child in nested:
            yield name, child


def test_every_command_is_documented() -> None:
    # more.md holds the commands that were planned when it was written (accounts, login, bulletin …).
    text = read(MANUAL / "cli.md") + read(MANUAL / "more.md")
    found = list(commands())
    assert ("assess", "run") in found
    for command, child in found:
        pattern = rf"`kaohe {command}\b" + (rf"[^`\n]*\b{child}\b" if child else "")
        assert re.search(pattern, text), f"docs/manual/cli.md does not document kaohe {command} {child}"


def code_files() -> list[Path]:
    return sorted((ROOT / "services").rglob("*.py"))


def test_every_environment_variable_is_documented() -> None:
    names = {name for path in code_files() for name in re.findall(r"KAOHE_[A-Z0-9_]+", read(path))}
    assert {"KAOHE_SECRET", "KAOHE_TASKS_DB_URL"} <= names
    documented = rows(read(DOCS / "operations.md"))
    assert not sorted(names - documented), f"docs/operations.md: {sorted(names - documented)}"


def test_every_metric_is_documented() -> None:
    defined = re.compile(r'(?:Counter|Histogram|Gauge|GaugeMetricFamily)\(\s*"(kaohe_[a-z_]+)"')
    names = {name for path in code_files() for name in defined.findall(read(path))}
    assert {"kaohe_tasks_open", "kaohe_grpc_server_requests"} <= names
    text = read(DOCS / "operations.md")
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert not missing, f"docs/operations.md does not document {missing}"


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_between_documents_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", read(path)):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{path.relative_to(ROOT)} links to missing {target}"


def repository_files() -> Iterator[Path]:
    """The project's own text files: no virtualenv, generated code, data dir, caches or CI machinery."""
    skip = {".git", ".ci", ".venv", "gen", "var", "build", "node_modules", "__pycache__", ".hypothesis"}
    suffixes = {".py", ".pyi", ".md", ".toml", ".yaml", ".yml", ".json", ".jsonl", ".cfg", ".proto", ""}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(("cache", ".egg-info"))]
        for name in files:
            path = Path(folder) / name
            if path.suffix in suffixes:
                yield path


def test_nothing_refers_to_a_path_outside_the_repository() -> None:
    # Spelt in pieces so that this file does not find itself.
    needles = (".." + "/shared", "shared" + "/spec", "shared" + "/tools")
    offenders = []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    assert not offenders, offenders
