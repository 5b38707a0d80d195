"""`kaohe tolerance` and `kaohe appeals` on a real `kaohe serve`: departments file, the office decides."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import example_path
from tests.e2e.test_cli import Served

ZONE = ZoneInfo("Asia/Shanghai")


def as_unit(served: Served, unit: str) -> dict[str, str]:
    token = served.kaohe("token", "--role", "department", "--unit", unit).stdout.strip()
    return dict(served.env, KAOHE_TOKEN=token)


def test_a_department_applies_and_appeals_and_the_office_decides_by_command(served: Served) -> None:
    office = dict(served.env, KAOHE_TOKEN=served.kaohe("token", "--role", "office").stdout.strip())
    served.env = office
    served.kaohe("import", str(example_path("ledger.jsonl")))
    served.env = as_unit(served, "fgj")
    filed = json.loads(
        served.kaohe(
            "tolerance",
            "apply",
            "--target-type",
            "任务",
            "--target",
            "T3",
            "--reason",
            "签约方变更",
            "--json",
        ).stdout
    )
    assert (filed["id"], filed["unit"], filed["state"]) == ("RC2025-001", "fgj", "pending")
    table = served.kaohe("tolerance", "list").stdout
    assert "RC2025-001" in table and "待裁决" in table and "单位 fgj" in table
    other = served.kaohe(
        "tolerance", "apply", "--target-type", "task", "--target", "T5", "--reason", "x", check=False
    )
    assert other.returncode == 1 and "错误" in other.stderr
    early = served.kaohe("appeals", "file", "SS1", "--target", "E1", "--reason", "口径一致", check=False)
    assert early.returncode == 1 and "尚未公示" in early.stderr

    served.env = office
    decided = served.kaohe("tolerance", "decide", "RC2025-001", "--decision", "免责", "--reason", "客观原因")
    assert "免责" in decided.stdout
    run = json.loads(served.kaohe("assess", "run", "--year", "2025", "--json").stdout)
    served.kaohe("assess", "publish", "--run", run["run"])

    served.env = as_unit(served, "fgj")
    mine = json.loads(served.kaohe("tolerance", "list", "--json").stdout)["applications"]
    assert [(a["state"], [e["event"] for e in a["timeline"]]) for a in mine] == [
        ("exempt", ["filed", "decided"])
    ]
    served.kaohe("appeals", "file", "SS1", "--target", "E1", "--reason", "口径一致")

    served.env = as_unit(served, "czj")
    assert json.loads(served.kaohe("tolerance", "list", "--json").stdout)["applications"] == []
    assert [a["id"] for a in json.loads(served.kaohe("appeals", "list", "--json").stdout)["appeals"]] == [
        "AP1"
    ]

    served.env = office
    pending = served.kaohe("appeals", "list", "--state", "pending").stdout
    assert "SS1" in pending and "待裁决" in pending
    served.kaohe("appeals", "decide", "SS1", "--upheld", "no", "--reason", "口径确有不一致")
    (ss1,) = json.loads(served.kaohe("appeals", "list", "--unit", "fgj", "--json").stdout)["appeals"]
    assert (ss1["state"], ss1["decision_reason"]) == ("rejected", "口径确有不一致")


def test_a_unit_asks_for_an_extension_and_the_office_grants_it_by_command(served: Served) -> None:
    office = dict(served.env, KAOHE_TOKEN=served.kaohe("token", "--role", "office").stdout.strip())
    served.env = office
    served.kaohe("import", str(example_path("ledger.jsonl")))
    due = (datetime.now(ZONE) + timedelta(days=3)).replace(microsecond=0)
    created = json.loads(
        served.kaohe(
            "tasks",
            "create",
            "--title",
            "供暖保障",
            "--type",
            "leader_directive",
            "--lead",
            "fgj",
            "--due-at",
            due.isoformat(),
            "--assign",
            "--json",
        ).stdout
    )
    asked = (due + timedelta(days=7)).date()
    served.env = as_unit(served, "fgj")
    said = served.kaohe(
        "extensions",
        "request",
        "--task",
        created["id"],
        "--due",
        f"{asked:%Y年%m月%d日}",
        "--reason",
        "待省厅批复",
    ).stdout
    assert "已提出延期申请 YQ" in said and f"{asked.isoformat()} 23:59" in said
    mine = json.loads(served.kaohe("extensions", "list", "--json").stdout)["extensions"]
    assert [(e["task_id"], e["state"]) for e in mine] == [(created["id"], "pending")]
    served.env = as_unit(served, "czj")
    assert "共 0 项延期申请" in served.kaohe("extensions", "list").stdout
    usage = served.kaohe("extensions", "decide", "--id", mine[0]["id"], "--refuse", check=False)
    assert usage.returncode == 2 and "理由" in usage.stderr

    served.env = office
    table = served.kaohe("extensions", "list", "--status", "待审批").stdout
    assert mine[0]["id"] in table and "待省厅批复" in table and "单位 fgj" in table
    decided = served.kaohe("extensions", "decide", "--id", mine[0]["id"], "--approve").stdout
    assert f"延至 {asked.isoformat()} 23:59" in decided
    shown = json.loads(served.kaohe("tasks", "show", created["id"], "--json").stdout)
    assert shown["due_at"] == f"{asked.isoformat()}T23:59:59+08:00"
    assert [e["kind"] for e in shown["history"]][-1] == "extend"
