"""The Excel 台账 through the command line of two real `kaohe serve` stacks: template, export, import back."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served, start_served

pytestmark = pytest.mark.slow


def _started(path: Path) -> Served:
    path.mkdir()
    return start_served(path)


@pytest.fixture
def one(tmp_path: Path) -> Iterator[Served]:
    stack = _started(tmp_path / "a")
    yield stack
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(timeout=20)


@pytest.fixture
def two(one: Served, tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    stacks = [_started(tmp_path / "b")]
    yield one, stacks[0]
    for stack in stacks:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGTERM)
            stack.process.wait(timeout=20)


def test_the_ledger_goes_out_as_a_workbook_and_comes_back_the_same(
    two: tuple[Served, Served], tmp_path: Path
) -> None:
    first, second = two
    first.kaohe("import", str(example_path("ledger.jsonl")))
    book, lines = tmp_path / "台账.xlsx", tmp_path / "ledger.jsonl"
    summary = json.loads(first.kaohe("ledger", "export", "--out", str(book), "--json").stdout)
    assert summary["total"] == 73 and summary["records"]["task"] == 12
    first.kaohe("ledger", "export", "--out", str(lines))

    imported = json.loads(second.kaohe("import", str(book), "--json").stdout)
    assert sum(imported["created"].values()) == 73 and imported["lines"] == 73
    again = tmp_path / "again.jsonl"
    second.kaohe("ledger", "export", "--out", str(again))
    assert again.read_text(encoding="utf-8") == lines.read_text(encoding="utf-8")

    template = tmp_path / "模板.xlsx"
    assert "台账模板已写入" in first.kaohe("ledger", "template", "--out", str(template)).stdout
    sheets = openpyxl.load_workbook(template)
    assert sheets.sheetnames[0] == "说明" and "督办事项" in sheets.sheetnames
    assert sheets["督办事项"].data_validations.dataValidation and sheets["督办事项"].max_row == 2
    wrong = first.kaohe("ledger", "export", "--out", str(tmp_path / "x.csv"), check=False)
    assert wrong.returncode == 2 and ".xlsx" in wrong.stderr


def test_a_bad_cell_is_refused_by_sheet_row_and_column_and_nothing_is_stored(
    two: tuple[Served, Served], tmp_path: Path
) -> None:
    first, second = two
    first.kaohe("import", str(example_path("ledger.jsonl")))
    book = tmp_path / "台账.xlsx"
    first.kaohe("ledger", "export", "--out", str(book))
    sheets = openpyxl.load_workbook(book)
    sheets["督办事项"]["H5"] = "下周五"
    sheets.save(book)
    refused = second.kaohe("import", str(book), check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "工作表「督办事项」第 5 行「截止时间」：“下周五”不是时间" in refused.stderr
    empty = tmp_path / "empty.jsonl"
    assert "已导出 0 条记录" in second.kaohe("ledger", "export", "--out", str(empty)).stdout


def test_units_and_priorities_by_name_the_supervision_ledger_in_excel(one: Served, tmp_path: Path) -> None:
    first = one
    first.kaohe("import", str(example_path("ledger.jsonl")))
    listed = json.loads(
        first.kaohe("tasks", "list", "--lead", "发改局", "--priority", "重要", "--json").stdout
    )
    assert [(t["id"], t["lead_unit"], t["priority"]) for t in listed["tasks"]] == [("T2", "fgj", "important")]
    by_code = json.loads(first.kaohe("tasks", "list", "--unit", "czj", "--json").stdout)
    by_name = json.loads(first.kaohe("tasks", "list", "--unit", "财政局", "--json").stdout)
    assert by_name["tasks"] == by_code["tasks"] and by_code["tasks"]
    for option, value in (("--unit", "nosuch"), ("--lead", "不存在局"), ("--priority", "特急")):
        refused = first.kaohe("tasks", "list", option, value, "--json", check=False)
        assert (refused.returncode, refused.stdout) == (1, ""), option
        assert value in refused.stderr and "错误：" in refused.stderr

    fields = {
        "id": "E77",
        "unit": "财政局",
        "date": "2025-06-01",
        "category": "文稿起草",
        "severity": "较重",
        "description": "报送数据有误",
    }
    first.kaohe("records", "add", "差错通报", "--fields", json.dumps(fields, ensure_ascii=False))
    stored = json.loads(first.kaohe("records", "list", "--unit", "财政局", "--json").stdout)["records"]
    e77 = next(r for r in stored if r["id"] == "E77")
    assert (e77["unit"], e77["fields"]["category"], e77["fields"]["severity"]) == (
        "czj",
        "drafting",
        "serious",
    )

    ledger = tmp_path / "督办台账.xlsx"
    first.kaohe("tasks", "export", "--lead", "发改局", "--out", str(ledger))
    ws = openpyxl.load_workbook(ledger)["督办台账"]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert {r[3] for r in rows} == {"发改局"} and {r[5] for r in rows} <= {"一般", "重要"}
    assert ws.auto_filter.ref and ws.freeze_panes == "A3" and ws.print_title_rows == "$1:$2"
