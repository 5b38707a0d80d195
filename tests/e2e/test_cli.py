"""The `kaohe` command line against a real `kaohe serve`: the contract of FORMATS.md."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import example_path
from tests.e2e.forked_cli import FORKED
from tests.e2e.ports import free_port_base

KAOHE = str(Path(sys.executable).parent / "kaohe")
pytestmark = pytest.mark.slow


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path
    log: Path

    def kaohe(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Forked from a process that imported the command line once: a process of its own, without the import.
        result = FORKED.run([KAOHE, *args], self.env, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kaohe {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


def _env(base: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
    env["KAOHE_GATEWAY"] = f"127.0.0.1:{base}"
    return env


def start_served(
    tmp_path: Path,
    scheme: Path | None = None,
    extra: tuple[str, ...] = (),
    environment: Mapping[str, str] | None = None,
) -> Served:
    """`kaohe serve` (the example scheme unless told) on free ports, healthy; ports drawn again when one
    was taken between probe and bind. environment: more variables for the server alone."""
    data = tmp_path / "data"
    for attempt in range(5):
        base = free_port_base()
        env = _env(base)
        # `kaohe serve` records its CA for this user's command line: in the test's own config folder.
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
        log = tmp_path / f"serve-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    KAOHE,
                    "serve",
                    "--data-dir",
                    str(data),
                    "--port-base",
                    str(base),
                    "--scheme",
                    str(scheme or example_path("scheme.toml")),
                    *extra,
                ],
                env={**env, **(environment or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        env["KAOHE_DATA_DIR"] = str(data)
        stack = Served(process, env, data, log)
        for _ in range(120):
            if stack.kaohe("status", check=False).returncode == 0:
                return stack
            if process.poll() is not None:
                break
            time.sleep(0.25)
        else:
            os.killpg(process.pid, signal.SIGTERM)
            raise AssertionError("the stack did not become healthy:\n" + log.read_text())
        if "已被占用" not in log.read_text():
            raise AssertionError(f"kaohe serve exited {process.returncode}:\n" + log.read_text())
    raise AssertionError("kaohe serve found its ports taken five times running")


def test_the_worked_example_through_the_command_line(served: Served, tmp_path: Path) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    imported = json.loads(served.kaohe("import", str(example_path("ledger.jsonl")), "--json").stdout)
    assert sum(imported["created"].values()) == 73
    again = json.loads(served.kaohe("import", str(example_path("ledger.jsonl")), "--json").stdout)
    assert sum(again["created"].values()) == 0
    run = served.kaohe("assess", "run", "--year", "2025", "--scheme", str(example_path("scheme.toml")))
    assert "考核运行" in run.stdout and "发改局" in run.stdout
    shown = json.loads(served.kaohe("assess", "show", "--year", "2025", "--json").stdout)
    expected = json.loads(example_path("expected.json").read_text(encoding="utf-8"))
    totals = {u["unit"]: (u["total"], u["rank"], u["grade"], u["veto"]) for u in shown["units"]}
    assert totals == {u["unit"]: (u["total"], u["rank"], u["grade"], u["veto"]) for u in expected["units"]}
    one = json.loads(served.kaohe("assess", "show", "--year", "2025", "--unit", "czj", "--json").stdout)
    assert [u["unit"] for u in one["units"]] == ["czj"]
    nosuch = served.kaohe("assess", "show", "--year", "2025", "--unit", "nosuch", "--json", check=False)
    assert (nosuch.returncode, nosuch.stdout) == (1, "") and "nosuch" in nosuch.stderr
    other_year = served.kaohe("assess", "show", "--run", shown["run"], "--year", "2024", check=False)
    assert other_year.returncode == 1 and "2025" in other_year.stderr
    # A cutoff without an offset is local time of the scheme's zone.
    local = json.loads(
        served.kaohe("assess", "run", "--year", "2025", "--as-of", "2025-06-30T12:00:00", "--json").stdout
    )
    assert local["as_of"] == "2025-06-30T12:00:00+08:00"

    listed = json.loads(served.kaohe("tasks", "list", "--json").stdout)
    due = {t["id"]: t["due_at"] for t in listed["tasks"]}
    assert due["T1"] == "2025-05-12T23:59:59+08:00" and due["T6"] == "2026-01-06T23:59:59+08:00"
    t1 = next(t for t in listed["tasks"] if t["id"] == "T1")
    assert t1["color"] is None and t1["outcome"] == "on_time"
    reds = json.loads(served.kaohe("tasks", "list", "--color", "red", "--json").stdout)
    assert {t["id"] for t in reds["tasks"]} >= {"T5"}
    # --page-token asks for one page (an empty token: the first) and the token of the next.
    first = json.loads(served.kaohe("tasks", "list", "--page-size", "4", "--page-token", "", "--json").stdout)
    assert len(first["tasks"]) == 4 and first["next_page_token"]
    second = json.loads(
        served.kaohe(
            "tasks", "list", "--page-size", "4", "--page-token", first["next_page_token"], "--json"
        ).stdout
    )
    assert {t["id"] for t in first["tasks"]}.isdisjoint(t["id"] for t in second["tasks"])
    assert len(listed["tasks"]) > 8 and listed["next_page_token"] == ""

    out = tmp_path / "result.xlsx"
    served.kaohe("export", "--run", shown["run"], "--out", str(out))
    book = openpyxl.load_workbook(out)
    assert "部门" in book.sheetnames and "乡镇" in book.sheetnames
    publish = served.kaohe("assess", "publish", "--run", shown["run"])
    assert "公示" in publish.stdout
    # 定档 waits for the 公示 appeal window to close (five working days from now).
    early = served.kaohe("assess", "finalize", "--run", shown["run"], check=False)
    assert early.returncode == 1 and "公示申诉期" in early.stderr
    refused = served.kaohe("assess", "publish", "--run", shown["run"], check=False)
    assert refused.returncode == 1 and "错误" in refused.stderr


def test_exit_codes_and_the_self_minted_token(served: Served, tmp_path: Path) -> None:
    # No KAOHE_TOKEN: the CLI mints an office token from the data dir's secret, kept private.
    assert (served.data_dir / "secret").stat().st_mode & 0o777 == 0o600
    assert served.kaohe("whoami", "--json").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":"unit","id":"a","name":"甲","category":"department"}\n{"type":"task"}\n')
    refused = served.kaohe("import", str(bad), check=False)
    assert refused.returncode == 1 and "line 2" in refused.stderr
    listed = json.loads(served.kaohe("tasks", "list", "--json").stdout)
    assert listed["tasks"] == []
    for wrong in (
        ["assess", "frobnicate"],
        ["assess", "show", "--json"],
        ["token", "--role", "department"],
        ["token", "--role", "office", "--unit", "fgj"],
        ["status", "--gateway", "nonsense"],
        ["status", "--gateway", "127.0.0.1"],
    ):
        usage = served.kaohe(*wrong, check=False)
        assert (usage.returncode, usage.stdout, "Traceback" in usage.stderr) == (2, "", False), wrong
    nobody = dict(served.env, KAOHE_GATEWAY="127.0.0.1:9")
    unreachable = subprocess.run(
        [KAOHE, "tasks", "list", "--json"], env=nobody, capture_output=True, text=True, timeout=60
    )
    assert unreachable.returncode == 3
    dept = served.kaohe("token", "--role", "department", "--unit", "fgj").stdout.strip()
    denied = served.kaohe("assess", "run", "--year", "2025", "--token", dept, check=False)
    assert denied.returncode == 1 and "无权" in denied.stderr


def test_sigint_stops_every_process(served: Served) -> None:
    children = subprocess.run(
        ["pgrep", "-g", str(served.process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(children) >= 4  # serve and its three services
    os.killpg(served.process.pid, signal.SIGINT)
    assert served.process.wait(timeout=30) in (0, 1, -signal.SIGINT)
    time.sleep(0.5)
    left = subprocess.run(
        ["pgrep", "-g", str(served.process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert left == []
    assert served.kaohe("status", check=False).returncode == 3


def _serve_fails(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = free_port_base()
    result = subprocess.run(
        [KAOHE, "serve", "--data-dir", str(tmp_path / "d"), "--port-base", str(base), *args],
        env=env or _env(base),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_configuration_stops_serve_with_one_line(tmp_path: Path) -> None:
    assert "scheme" in _serve_fails(tmp_path, "--scheme", str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text('[scheme]\nid = "x"\nname = "x"\nyear = "soon"\n')
    assert "year" in _serve_fails(tmp_path, "--scheme", str(broken))
    env = _env(free_port_base())
    env["KAOHE_TASKS_DB_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    assert "数据库" in _serve_fails(tmp_path, "--scheme", str(example_path("scheme.toml")), env=env)
    env["KAOHE_TASKS_DB_URL"] = "notadb://what"
    assert "数据库" in _serve_fails(tmp_path, "--scheme", str(example_path("scheme.toml")), env=env)


def test_a_taken_port_stops_serve_with_one_line(tmp_path: Path) -> None:
    base = free_port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        result = subprocess.run(
            [
                KAOHE,
                "serve",
                "--data-dir",
                str(tmp_path / "d"),
                "--port-base",
                str(base),
                "--scheme",
                str(example_path("scheme.toml")),
            ],
            env=_env(base),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"端口 {base + 1}" in result.stderr and "Traceback" not in result.stderr


def test_a_dead_service_is_not_restarted_silently(served: Served) -> None:
    children = subprocess.run(
        ["pgrep", "-P", str(served.process.pid), "-f", "serve-one scoring"], capture_output=True, text=True
    ).stdout.split()
    assert len(children) == 1
    os.kill(int(children[0]), signal.SIGKILL)
    assert served.process.wait(timeout=30) == 1
    assert "scoring 服务已停止" in served.log.read_text()
    left = subprocess.run(
        ["pgrep", "-g", str(served.process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert left == []


def test_choices_by_chinese_label_and_task_types_by_name(served: Served) -> None:
    not_a_role = served.kaohe("token", "--role", "办公室", check=False)
    assert (not_a_role.returncode, not_a_role.stdout) == (2, "") and "考核办" in not_a_role.stderr
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "考核办").stdout.strip()
    served.kaohe("import", str(example_path("ledger.jsonl")))

    def listed(*argv: str) -> list[str]:
        document = json.loads(served.kaohe("tasks", "list", *argv, "--json").stdout)
        return sorted(t["id"] for t in document["tasks"])

    everything = json.loads(served.kaohe("tasks", "list", "--json").stdout)["tasks"]
    red = [t for t in everything if t["color"] == "red"]
    assert red, "the worked example has overdue tasks"
    state = red[0]["state"]
    label = {"assigned": "已交办", "accepted": "承办中", "reported": "已反馈", "verified": "已核查"}[state]
    assert listed("--color", "红", "--state", label) == listed("--color", "red", "--state", state)
    assert listed("--color", "红", "--state", label)
    assert listed("--color", "红", "--state", "承办中") == listed("--color", "red", "--state", "accepted")

    task = json.loads(served.kaohe("tasks", "show", everything[0]["id"], "--json").stdout)
    by_id = listed("--type", task["task_type"])
    assert task["id"] in by_id and listed("--type", task["task_type_name"]) == by_id
    created = json.loads(
        served.kaohe(
            "tasks",
            "create",
            "--title",
            "按名称立项",
            "--type",
            task["task_type_name"],
            "--lead",
            task["lead_unit"],
            "--json",
        ).stdout
    )
    assert created["task_type"] == task["task_type"]


def test_kaohe_sample_writes_the_county_that_serve_sample_imports(tmp_path: Path) -> None:
    """One sample county: the file `kaohe sample` writes is what `kaohe serve --sample` imported."""
    scheme = Path(__file__).resolve().parents[2] / "schemes" / "default.toml"
    stack = start_served(tmp_path, scheme=scheme, extra=("--sample",))
    try:
        for _ in range(480):
            if "已导入示例县" in stack.log.read_text():
                break
            assert stack.process.poll() is None, stack.log.read_text()
            time.sleep(0.25)
        else:
            raise AssertionError("the sample county was not imported:\n" + stack.log.read_text())
        out = tmp_path / "sample.jsonl"
        stack.kaohe("sample", "--scheme", str(scheme), "--out", str(out))
        counts = json.loads(stack.kaohe("import", str(out), "--json").stdout)
        assert sum(counts["created"].values()) == 0, counts
        assert sum(counts["unchanged"].values()) == len(out.read_text().splitlines())
        # The departments' pending 容错 applications wait for the office, one on a task, one on a report.
        assert "已提交示例容错申请" in stack.log.read_text()
        pending = json.loads(stack.kaohe("tolerance", "list", "--json").stdout)
        kinds = sorted(a["target_type"] for a in pending["applications"] if a["state"] == "pending")
        assert kinds == ["error_report", "task"], pending
        # A few reported tasks carry their unit's 办结报告 (PDF), as a newcomer finds them in the console.
        line = next(x for x in stack.log.read_text().splitlines() if "已为任务附上示例办结报告" in x)
        first = line.rsplit("：", 1)[1].split("、")[0]
        (evidence,) = json.loads(stack.kaohe("attachments", "list", "--task", first, "--json").stdout)
        assert evidence["media_type"] == "application/pdf"
    finally:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(timeout=20)
