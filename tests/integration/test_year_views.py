"""The office's year through the gateway: the bulletin (督查通报), a department's dashboard and export."""

from __future__ import annotations

import io
from typing import Any

import docx
import grpc
import pytest
from google.protobuf import json_format
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from openpyxl import load_workbook

from tests.conftest import Stack
from tests.tasks_text import TextStub, typed


def text_of(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def bulletin(stack: Stack, period: str, role: str = "office", unit: str | None = None) -> Any:
    gateway, _, _ = stack.stubs()
    return gateway.GetBulletin(
        gateway_pb2.GetBulletinRequest(period=period, as_of="2026-01-10T00:00:00+08:00"),
        metadata=stack.metadata(role, unit),
        timeout=60,
    )


def test_the_bulletin_names_the_period_and_every_overdue_task(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    _, raw_tasks, _ = stack.stubs()
    tasks = TextStub(raw_tasks)
    listed = tasks.ListTasks(
        typed(tasks_pb2.ListTasksRequest, year=2025, as_of="2026-01-10T00:00:00+08:00", page_size=5000),
        metadata=stack.metadata(),
        timeout=30,
    )
    overdue = [t for t in listed.tasks if t.color == "red" and t.state != "cancelled"]
    assert overdue
    reply = bulletin(stack, "2025", role="viewer")
    assert (reply.period, reply.filename) == ("2025", "督查通报-2025.docx")
    text = text_of(reply.docx)
    assert "2025年" in text and reply.title in text
    for task in overdue:
        assert task.id in text
    found = tasks.ListUnits(tasks_pb2.ListUnitsRequest(), metadata=stack.metadata(), timeout=30)
    units = {u.id: u.name for u in found.units}
    for task in overdue:
        assert units[task.lead_unit] in text
    records = stack.stubs()[2].ListRecords(
        scoring_pb2.ListRecordsRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, year=2025),
        metadata=stack.metadata(),
        timeout=30,
    )
    descriptions = {r.id: json_format.MessageToDict(r.fields)["description"] for r in records.records}
    # E2's appeal was upheld (AP1): it is no longer a standing error report.
    assert descriptions.pop("E2") not in text
    for description in descriptions.values():
        assert description in text


def test_a_department_may_not_have_the_bulletin_and_a_bad_period_is_named(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    with pytest.raises(grpc.RpcError) as refused:
        bulletin(stack, "2025", role="department", unit="fgj")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as bad:
        bulletin(stack, "2025-13")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "没有 13 月" in (bad.value.details() or "")


def test_a_department_dashboard_and_export_default_to_its_own_unit(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    gateway, _, scoring = stack.stubs()
    own = stack.metadata("department", "czj")
    shown = gateway.GetDashboard(gateway_pb2.GetDashboardRequest(year=2025), metadata=own, timeout=60)
    assert shown.standing.unit == "czj"
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=stack.metadata(), timeout=60
    ).run
    scoring.PublishRun(scoring_pb2.PublishRunRequest(id=run.id), metadata=stack.metadata(), timeout=60)
    exported = gateway.ExportRun(gateway_pb2.ExportRunRequest(run=run.id), metadata=own, timeout=60)
    book = load_workbook(io.BytesIO(exported.xlsx))
    cells = {str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value}
    assert "财政局" in cells and "发改局" not in cells
    with pytest.raises(grpc.RpcError) as other:
        gateway.ExportRun(gateway_pb2.ExportRunRequest(run=run.id, unit="fgj"), metadata=own, timeout=60)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
