"""The office's year on the command line: the bulletin as .docx, the units, a department's own views."""

from __future__ import annotations

import json
from pathlib import Path

import docx
import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served

pytestmark = pytest.mark.slow


def document_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def test_the_bulletin_units_and_a_departments_own_views(served: Served, tmp_path: Path) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    served.kaohe("import", str(example_path("ledger.jsonl")))

    units = json.loads(served.kaohe("units", "list", "--json").stdout)
    assert {"id": "czj", "name": "财政局", "category": "department", "parent": ""} in units
    assert all(set(u) == {"id", "name", "category", "parent"} for u in units)
    table = served.kaohe("units", "list").stdout
    assert "名称" in table and "类别" in table and "财政局" in table and "部门" in table
    names = {u["id"]: u["name"] for u in units}

    out = tmp_path / "通报.docx"
    written = json.loads(served.kaohe("bulletin", "--period", "2025", "--out", str(out), "--json").stdout)
    assert written["period"] == "2025" and out.stat().st_size == written["bytes"]
    text = document_text(out)
    assert "2025年度" in text
    red = json.loads(served.kaohe("tasks", "list", "--color", "red", "--year", "2025", "--json").stdout)
    assert red["tasks"]
    for task in red["tasks"]:
        assert task["id"] in text
        assert names[task["lead_unit"]] in text

    bad = served.kaohe("bulletin", "--period", "2025-Q5", "--out", str(tmp_path / "x.docx"), check=False)
    assert bad.returncode == 2 and "Q5" in bad.stderr and "Q1–Q4" in bad.stderr
    assert not (tmp_path / "x.docx").exists()

    czj = served.kaohe("token", "--role", "department", "--unit", "czj").stdout.strip()
    served.env["KAOHE_TOKEN"] = czj
    dashboard = json.loads(served.kaohe("dashboard", "--year", "2025", "--json").stdout)
    assert dashboard["standing"]["unit"] == "czj"
    refused = served.kaohe("bulletin", "--period", "2025", "--out", str(tmp_path / "y.docx"), check=False)
    assert refused.returncode == 1
