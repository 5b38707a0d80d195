"""The gateway's two-phase import makes both halves before scoring stages its own."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.auth import make_user_identity
from services.gateway import importing

LEDGER = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {
        "type": "task",
        "id": "T1",
        "title": "重点项目用地保障",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": "2025-04-28T10:00:00+08:00",
    },
    {
        "type": "error_report",
        "id": "E1",
        "unit": "fgj",
        "date": "2025-05-06",
        "severity": "general",
        "description": "文件格式差错",
    },
]


def test_both_halves_are_made_before_scoring_stages_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # Once scoring has staged its half, its recovery gives the tasks half 30 s to start arriving; making a
    # province's tasks half (hashing 20M lines) took longer, and the import was rolled back under it.
    happened: list[str] = []

    class Made(importing.SignedStream):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            happened.append("made")

    def call(backend: Any, method: str, request: Any, identity: Any, timeout: float) -> Any:
        happened.append(method)
        if method == "ImportRecords":
            return scoring_pb2.ImportRecordsResponse()
        if method == "ImportLedger":
            return tasks_pb2.ImportLedgerResponse()
        return scoring_pb2.CommitImportResponse()

    monkeypatch.setattr(importing, "SignedStream", Made)
    source = io.BytesIO("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in LEDGER).encode())
    imports = importing.LedgerImports(tasks=object(), scoring=object(), call=call)  # type: ignore[arg-type]
    office = make_user_identity(role="office", unit=None, subject="office")
    imports.run(source, identity=office, validate_only=False, timeout=30)
    assert happened == ["made", "made", "ImportRecords", "ImportLedger", "CommitImport"]
