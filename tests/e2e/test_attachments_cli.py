"""附件 on the command line: `kaohe attachments add | list | get` against `kaohe serve`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import example_path
from tests.e2e.test_cli import Served

pytestmark = pytest.mark.slow

PDF = b"%PDF-1.7\n" + b"0" * 3000 + b"\n%%EOF\n"


def test_add_list_and_get_an_attachment(served: Served, tmp_path: Path) -> None:
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "office").stdout.strip()
    served.kaohe("import", str(example_path("ledger.jsonl")))
    office = served.env["KAOHE_TOKEN"]
    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "department", "--unit", "fgj").stdout.strip()
    report = tmp_path / "办结报告.pdf"
    report.write_bytes(PDF)
    added = json.loads(served.kaohe("attachments", "add", "--task", "T1", str(report), "--json").stdout)
    sha = hashlib.sha256(PDF).hexdigest()
    assert (added["sha256"], added["media_type"]) == (sha, "application/pdf")
    assert (served.data_dir / "attachments" / sha[:2] / sha[2:]).read_bytes() == PDF

    fake = tmp_path / "假的.pdf"
    fake.write_bytes(b"MZ" + bytes(100))
    refused = served.kaohe("attachments", "add", "--task", "T1", str(fake), check=False)
    assert refused.returncode == 1 and "文件类型不被接受" in refused.stderr

    table = served.kaohe("attachments", "list", "--task", "T1").stdout
    assert "文件名" in table and "办结报告.pdf" in table and "共 1 个附件" in table
    out = tmp_path / "下载.pdf"
    served.kaohe("attachments", "get", added["id"], "--out", str(out))
    assert out.read_bytes() == PDF

    served.env["KAOHE_TOKEN"] = served.kaohe("token", "--role", "department", "--unit", "czj").stdout.strip()
    other = served.kaohe("attachments", "get", added["id"], "--out", str(tmp_path / "x.pdf"), check=False)
    assert other.returncode == 1 and not (tmp_path / "x.pdf").exists()

    # An appeal's file is kept by scoring; `get` finds it by its id all the same.
    served.env["KAOHE_TOKEN"] = office
    on_appeal = json.loads(
        served.kaohe("attachments", "add", "--appeal", "AP1", str(report), "--json").stdout
    )
    assert (on_appeal["item_kind"], on_appeal["item_id"]) == ("appeal", "AP1")
    assert "申诉 AP1" in served.kaohe("attachments", "list", "--appeal", "AP1").stdout
    served.kaohe("attachments", "get", on_appeal["id"], "--out", str(tmp_path / "申诉.pdf"))
    assert (tmp_path / "申诉.pdf").read_bytes() == PDF
