"""`kaohe bulletin` as a 公文 from a scheme with a county and a 文号 prefix: 期号 kept across restarts."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import docx
import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served, start_served

pytestmark = pytest.mark.slow


def scheme_with_bulletin(path: Path) -> Path:
    text = example_path("scheme.toml").read_text(encoding="utf-8")
    text = text.replace("[scheme]\n", '[scheme]\njurisdiction = "宁强县"\n', 1)
    text += '\n[bulletin]\nissuer = "人民政府办公室"\ndoc_prefix = "宁政办督"\n'
    path.write_text(text, encoding="utf-8")
    return path


def stop(served: Served) -> None:
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=20)


def test_issue_numbers_follow_on_are_kept_per_period_and_survive_a_restart(tmp_path: Path) -> None:
    scheme = scheme_with_bulletin(tmp_path / "scheme.toml")

    def bulletin(served: Served, *args: str) -> dict[str, object]:
        out = tmp_path / f"{args[1]}.docx"
        return json.loads(served.kaohe("bulletin", *args, "--out", str(out), "--json").stdout)

    served = start_served(tmp_path, scheme=scheme)
    try:
        served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
        served.kaohe("import", str(example_path("ledger.jsonl")))
        first = bulletin(served, "--period", "2025")
        year = first["doc_number"][5:9]  # type: ignore[index]
        assert (first["issue"], first["doc_number"]) == (1, f"宁政办督〔{year}〕1号")
        assert bulletin(served, "--period", "2025-Q4")["issue"] == 2
        assert bulletin(served, "--period", "2025")["issue"] == 1
        assert (
            bulletin(served, "--period", "2025-11", "--issue", "7")["doc_number"] == f"宁政办督〔{year}〕7号"
        )
        taken = served.kaohe(
            "bulletin", "--period", "2025-10", "--issue", "2", "--out", "x.docx", check=False
        )
        assert taken.returncode == 1 and "第2期已用于 2025-Q4" in taken.stderr
        bad = served.kaohe("bulletin", "--period", "2025-10", "--issue", "0", "--out", "x.docx", check=False)
        assert bad.returncode == 2 and "--issue" in bad.stderr
    finally:
        stop(served)

    served = start_served(tmp_path, scheme=scheme)
    try:
        served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
        assert bulletin(served, "--period", "2025-12")["issue"] == 8
        document = docx.Document(str(tmp_path / "2025-12.docx"))
        lines = [p.text for p in document.paragraphs]
        assert lines[:3] == ["督查通报", "第8期", f"宁政办督〔{year}〕8号"]
        assert lines[3].startswith("宁强县人民政府办公室\t")
        assert "宁强县人民政府办公室" in lines and any("已超期天数按工作日计算" in line for line in lines)
    finally:
        stop(served)
