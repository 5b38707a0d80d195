"""Typical refusals through the real CLI against a running stack: each exits 1 and says why in Chinese,
with no English sentence (tests/unit/test_refusals_chinese.py walks the sources for every other)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import example_path
from tests.e2e.forked_cli import FORKED
from tests.e2e.test_cli import KAOHE, Served
from tests.unit.test_refusals_chinese import has_ascii_sentence


def _refused(served: Served, *args: str, stdin: str | None = None, code: int = 1) -> str:
    result = FORKED.run([KAOHE, *args], served.env, input=stdin, timeout=120)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    said = result.stderr.strip()
    assert said, args
    assert not has_ascii_sentence(said), (args, said)
    return said


def test_typical_refusals_are_chinese(served: Served, tmp_path: Path) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    served.kaohe("import", str(example_path("ledger.jsonl")))

    assert "任务 'T2026-0005' 不存在" in _refused(served, "tasks", "show", "T2026-0005")
    assert "nosuch" in _refused(served, "dashboard", "--unit", "nosuch")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"type": "task_event", "task": "NOPE", "kind": "approve"}) + "\n")
    assert "task_event 记录必须有此项" in _refused(served, "import", str(bad))
    assert "特急" in _refused(served, "tasks", "list", "--priority", "特急")
    # A value argparse itself refuses: a usage error, exit 2, the rule in Chinese.
    assert "不是颜色" in _refused(served, "tasks", "list", "--color", "purple", code=2)
    assert "2025-999" in _refused(served, "assess", "show", "--run", "2025-999")
    assert "身份验证失败" in _refused(served, "login", "--username", "admin", stdin="wrong-password\n")
    assert "1999" in _refused(served, "overview", "--year", "1999")
