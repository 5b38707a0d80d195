"""People, levels and 结果运用 on the command line: units with parents, persons, the notice and letters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import docx
import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served

pytestmark = pytest.mark.slow

PEOPLE = [
    {"type": "unit", "id": "cgz", "name": "城关镇", "category": "township"},
    {"type": "unit", "id": "cgz-d", "name": "东关村", "category": "village", "parent": "cgz"},
    {"type": "person", "id": "p1", "name": "张三", "unit": "czj", "post": "局长", "mobile": "13800000001"},
    {"type": "person", "id": "p2", "name": "李四", "unit": "fgj", "post": "副县长", "leader": True},
    {
        "type": "task",
        "id": "Z1",
        "title": "整治",
        "task_type": "leader_directive",
        "lead_unit": "cgz",
        "assigned_at": "2025-07-01T09:00:00+08:00",
        "leader": "p2",
    },
    {
        "type": "task",
        "id": "Z1.1",
        "title": "东关村整治",
        "task_type": "leader_directive",
        "lead_unit": "cgz-d",
        "assigned_at": "2025-07-01T09:00:00+08:00",
        "parent": "Z1",
    },
]


def test_units_persons_and_the_results_documents(served: Served, tmp_path: Path) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    served.kaohe("import", str(example_path("ledger.jsonl")))
    people = tmp_path / "people.jsonl"
    people.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PEOPLE), encoding="utf-8")
    served.kaohe("import", str(people))

    units = {u["id"]: u for u in json.loads(served.kaohe("units", "list", "--json").stdout)}
    assert units["cgz-d"]["parent"] == "cgz" and units["czj"]["parent"] == ""
    table = served.kaohe("units", "list").stdout
    village = next(line for line in table.splitlines() if "东关村" in line)
    assert "上级单位" in table and "城关镇" in village

    shown = json.loads(served.kaohe("tasks", "show", "Z1", "--json").stdout)
    assert (shown["leader"], shown["leader_name"]) == ("p2", "李四")
    assert [p["id"] for p in shown["parts"]] == ["Z1.1"]
    text = served.kaohe("tasks", "show", "Z1").stdout
    assert "包保领导 李四" in text and "任务分解 1 项" in text
    served.kaohe("tasks", "accept", "Z1")
    refused = served.kaohe("tasks", "report", "Z1", "--note", "完成", check=False)
    assert refused.returncode == 1 and "Z1.1" in refused.stderr

    persons = {p["id"]: p for p in json.loads(served.kaohe("persons", "list", "--json").stdout)}
    assert persons["p1"]["mobile"] == "13800000001" and persons["p2"]["leader"] is True
    assert set(persons["p1"]) >= {"id", "name", "unit", "post", "leader", "open", "red"}
    office_env = dict(served.env)
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "department", "--unit", "fgj").stdout.strip()
    own = json.loads(served.kaohe("persons", "list", "--json").stdout)
    assert [p["id"] for p in own] == ["p2"]
    assert served.kaohe("persons", "list", "--unit", "czj", check=False).returncode == 1
    served.env = office_env

    run = json.loads(served.kaohe("assess", "run", "--year", "2025", "--json").stdout)
    result = {u["unit"]: u for u in run["units"]}
    notice = tmp_path / "通报.docx"
    served.kaohe("results", "notice", "--run", run["run"], "--out", str(notice))
    text = "\n".join(p.text for p in docx.Document(str(notice)).paragraphs)
    assert "考核结果的通报" in text and all(u["name"] in text for u in result.values())

    letters = tmp_path / "letters"
    served.kaohe("results", "letters", "--run", run["run"], "--out", str(letters))
    assert sorted(p.name for p in letters.iterdir()) == sorted(f"{u}.docx" for u in result)
    for unit, entry in result.items():
        body = "\n".join(p.text for p in docx.Document(str(letters / f"{unit}.docx")).paragraphs)
        assert f"总分{entry['total']:.2f}分" in body and f"排第{entry['rank']}名" in body

    excellent = tmp_path / "优秀.csv"
    served.kaohe("results", "excellent", "--run", run["run"], "--out", str(excellent))
    rows = list(csv.reader(io.StringIO(excellent.read_text(encoding="utf-8-sig"))))
    assert sorted(r[3] for r in rows[1:]) == sorted(u for u, e in result.items() if e["grade"] == "excellent")
