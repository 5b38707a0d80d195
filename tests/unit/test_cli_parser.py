"""The `kaohe` parser: every subcommand and option explained in Chinese, choices by code or by label."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from services.cli.main import parser
from services.common.vocabulary import COLOURS, RECORD_KIND_LABELS, ROLES, TASK_STATES

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _subcommands(
    top: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


SUBCOMMANDS = list(_subcommands(parser()))


def test_the_walk_finds_every_group_and_command() -> None:
    names = {" ".join(path) for path, _ in SUBCOMMANDS}
    assert {"serve", "status", "tasks list", "tasks reject", "records add", "assess finalize"} <= names
    assert len(names) == 74  # 34, attachments with add/list/get, units and units list, bulletin,
    # accounts add/list/disable/enable/passwd and login,
    # appeals and tolerance with list/file/decide and list/apply/decide, persons and persons list,
    # results with notice/letters/excellent, extensions with list/request/decide, calendar with import/show,
    # ledger template/export, tasks export; accounts enable and passwd


@pytest.mark.parametrize("path", [path for path, _ in SUBCOMMANDS], ids=" ".join)
def test_every_subcommand_has_a_chinese_summary_and_help(path: tuple[str, ...]) -> None:
    sub = dict(SUBCOMMANDS)[path]
    assert sub.description and CHINESE.search(sub.description), path
    assert CHINESE.search(sub.format_help()), path
    for action in sub._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help and CHINESE.search(action.help), (path, action.option_strings or action.dest)


def test_the_listing_of_a_group_gives_each_command_its_summary() -> None:
    tasks = dict(SUBCOMMANDS)[("tasks",)]
    text = tasks.format_help()
    assert "承办：牵头单位接受任务" in text and "查看一项任务及其全部办理记录" in text


def test_records_add_describes_the_fields_of_every_kind_and_points_inside_the_repository() -> None:
    text = dict(SUBCOMMANDS)[("records", "add")].format_help()
    for kind, label in RECORD_KIND_LABELS.items():
        assert f"{kind}（{label}）" in text
    assert "FORMATS" not in text and "docs/" in text


def _parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def _same(a: argparse.Namespace, b: argparse.Namespace) -> bool:
    return vars(a) == vars(b)


def test_colour_and_state_by_their_chinese_labels_equal_their_codes() -> None:
    chinese = _parse("tasks", "list", "--color", "红", "--state", "承办中")
    english = _parse("tasks", "list", "--color", "red", "--state", "accepted")
    assert _same(chinese, english)
    assert (chinese.color, chinese.state) == ("red", "accepted")


@pytest.mark.parametrize("code", list(COLOURS))
def test_every_colour_by_label(code: str) -> None:
    assert _parse("tasks", "list", "--color", COLOURS[code]).color == code


@pytest.mark.parametrize("code", list(TASK_STATES))
def test_every_state_by_label(code: str) -> None:
    assert _parse("tasks", "list", "--state", TASK_STATES[code]).state == code


def test_an_unknown_state_is_left_to_the_service_but_an_unknown_colour_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _parse("tasks", "list", "--state", "pending").state == "pending"
    with pytest.raises(SystemExit) as exit_:
        _parse("tasks", "list", "--color", "紫")
    assert exit_.value.code == 2
    assert "red（红）" in capsys.readouterr().err


def test_record_kinds_roles_and_decisions_by_label() -> None:
    assert _same(
        _parse("records", "add", "差错通报", "--fields", "{}"),
        _parse("records", "add", "error_report", "--fields", "{}"),
    )
    assert _parse("records", "list", "--kind", "申诉").kind == "appeal"
    assert _parse("records", "void", "激励", "I1", "--reason", "x").kind == "incentive"
    for code, label in ROLES.items():
        assert _parse("token", "--role", label).role == code
    assert _parse("records", "decide-appeal", "A1", "--upheld", "成立", "--reason", "x").upheld == "yes"
    assert _parse("records", "decide-appeal", "A1", "--upheld", "不成立", "--reason", "x").upheld == "no"
