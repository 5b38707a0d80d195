"""The ledger out and back in through real stacks: exported as JSON lines or as the Excel 台账, imported into
an empty stack, exported again — the same records; a workbook's refusal names its sheet, row and column."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from openpyxl import load_workbook

from services.common.auth import make_user_identity
from services.ledger_book.columns import choices_of
from services.ledger_book.write import ledger_workbook
from tests.conftest import Databases, Stack, TlsFiles, internal_metadata, start_stack, stop_stack
from tests.integration.test_tasks_ledger import violations


def exported(stack: Stack, role: str = "office") -> list[str]:
    gateway, _, _ = stack.stubs()
    replies = gateway.ExportLedger(
        gateway_pb2.ExportLedgerRequest(), metadata=stack.metadata(role), timeout=60
    )
    return [line for reply in replies for line in reply.lines]


def workbook(stack: Stack, lines: list[str]) -> bytes:
    scheme = stack.scheme
    records = [json.loads(line) for line in lines]
    return ledger_workbook(records, choices=choices_of(scheme), tz=scheme.tz, title="台账")


@pytest.fixture
def fresh(databases: Databases, stack: Stack, tmp_path: Path, tls_files: TlsFiles) -> Iterator[Any]:
    """Makes more empty stacks over databases of the same kind as `stack`'s."""
    made: list[Stack] = []

    def make() -> Stack:
        other = start_stack(
            tasks_db=databases.url("tasks"),
            scoring_db=databases.url("scoring"),
            scheme=stack.scheme,
            tmp=tmp_path,
            tls=tls_files,
        )
        made.append(other)
        return other

    yield make
    for other in made:
        stop_stack(other)


def _work_by_hand(stack: Stack) -> None:
    """What the office and a department do outside an import: a task made and accepted, a record filed."""
    _, tasks, scoring = stack.stubs()
    tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(
            id="H1",
            title="修路",
            task_type="leader_directive",
            lead_unit="fgj",
            co_units=["czj"],
            assign_now=True,
        ),
        metadata=stack.metadata("supervisor"),
        timeout=10,
    )
    tasks.AcceptTask(
        tasks_pb2.AcceptTaskRequest(id="H1", note="已安排"),
        metadata=stack.metadata("department", "fgj"),
        timeout=10,
    )
    tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(id="H2", title="只立项", task_type="leader_directive", lead_unit="fgj"),
        metadata=stack.metadata("supervisor"),
        timeout=10,
    )
    fields = scoring_pb2.CreateRecordRequest().fields
    fields.update(
        {
            "id": "E99",
            "unit": "fgj",
            "date": "2025-04-01",
            "category": "drafting",
            "severity": "general",
            "description": "口径不一",
        }
    )
    scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(kind=scoring_pb2.RECORD_KIND_ERROR_REPORT, fields=fields),
        metadata=stack.metadata(),
        timeout=10,
    )


def test_exported_in_either_form_and_imported_into_an_empty_stack_the_same_records(
    stack: Stack, fresh: Any, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    _work_by_hand(stack)
    lines = exported(stack)
    records = [json.loads(line) for line in lines]
    counts: dict[str, int] = {}
    for record in records:
        counts[record["type"]] = counts.get(record["type"], 0) + 1
    # The example's 73 lines, the task made by hand (not the one only drafted: it has no assignment yet),
    # its acceptance and the error report filed.
    assert counts == {
        "unit": 6,
        "task": 13,
        "task_event": 18,
        "error_report": 7,
        "metric_reading": 20,
        "incentive": 4,
        "tolerance": 4,
        "accountability": 3,
        "appeal": 1,
    }
    assert "H2" not in {r.get("id") for r in records}
    example = [json.loads(line) for line in example_ledger.decode().splitlines() if line.strip()]
    # A task as it was imported, the default priority written out.
    t1 = next(r for r in records if r.get("id") == "T1")
    assert t1 == {"priority": "normal", **next(r for r in example if r.get("id") == "T1")}

    as_workbook = fresh()
    reply = as_workbook.import_ledger(workbook(stack, lines))
    assert sum(reply.created.values()) == len(lines) and reply.lines == len(lines)
    assert exported(as_workbook) == lines

    as_lines = fresh()
    as_lines.import_ledger("".join(line + "\n" for line in lines).encode())
    assert exported(as_lines) == lines
    # The same workbook again stores nothing twice.
    again = as_workbook.import_ledger(workbook(stack, lines))
    assert sum(again.created.values()) == 0 and sum(again.unchanged.values()) == len(lines)


def test_a_refused_workbook_names_sheet_row_and_column_and_stores_nothing(
    stack: Stack, example_ledger: bytes
) -> None:
    stack.import_ledger(example_ledger)
    lines = exported(stack)
    book = load_workbook(io.BytesIO(workbook(stack, lines)))
    tasks = book["督办事项"]
    # The fourth task (row 6): due before it was assigned, which only the tasks service knows to refuse.
    assigned = tasks.cell(row=6, column=7).value
    tasks.cell(row=6, column=8, value=assigned.replace(year=assigned.year - 1))
    book["差错通报"].cell(row=3, column=1, value="E-NEW")  # a new record that must not be stored either
    out = io.BytesIO()
    book.save(out)

    empty = []  # nothing of the file is stored: the stack's export is what it was
    with pytest.raises(grpc.RpcError) as caught:
        stack.import_ledger(out.getvalue())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("工作表「督办事项」第 6 行「截止时间」：")
    assert violations(caught.value)[0][0] == "工作表「督办事项」第 6 行「截止时间」"
    assert exported(stack) == lines + empty


def test_only_the_office_exports_the_ledger(stack: Stack, example_ledger: bytes) -> None:
    stack.import_ledger(example_ledger)
    for role, unit in (("supervisor", None), ("viewer", None), ("department", "fgj")):
        metadata = stack.metadata(role, unit)
        # Neither the gateway's export nor the services' own streams behind it, relayed by the gateway.
        for call, request in ((stack.stubs()[0].ExportLedger, gateway_pb2.ExportLedgerRequest()),):
            with pytest.raises(grpc.RpcError) as caught:
                list(call(request, metadata=metadata, timeout=10))
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
        # The tasks service's own stream is internal: the gateway does not serve it to anyone.
        internal = tasks_pb2_grpc.TasksInternalServiceStub(stack.channel())
        with pytest.raises(grpc.RpcError) as caught:
            list(internal.ExportLedger(tasks_pb2.ExportLedgerRequest(), metadata=metadata, timeout=10))
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED, role
        # Scoring's stream is internal: the gateway does not serve it; scoring refuses it relayed for them.
        request = scoring_pb2.ExportRecordsRequest()
        with pytest.raises(grpc.RpcError) as caught:
            list(
                scoring_pb2_grpc.ScoringInternalServiceStub(stack.channel()).ExportRecords(
                    request, metadata=metadata
                )
            )
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED, role
        method = "/kaohe.scoring.v1.ScoringInternalService/ExportRecords"
        relayed = internal_metadata(make_user_identity(role=role, unit=unit), method, request)
        with pytest.raises(grpc.RpcError) as caught:
            internal = scoring_pb2_grpc.ScoringInternalServiceStub(stack.channel(stack.scoring_addr))
            list(internal.ExportRecords(request, metadata=relayed, timeout=10))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
    assert len(exported_as(stack, stack.metadata())) == 73


def exported_as(stack: Stack, metadata: Any) -> list[str]:
    gateway, _, _ = stack.stubs()
    replies = gateway.ExportLedger(gateway_pb2.ExportLedgerRequest(), metadata=metadata, timeout=10)
    return [line for reply in replies for line in reply.lines]


NAMED = {
    "type": "accountability",
    "id": "A9",
    "unit": "fgj",
    "date": "2025-10-15",
    "kind": "interview",
    "reason": "项目推进不力，工作约谈",
    "person": "张三",
    "decided_by": "县纪委监委",
}


def test_an_accountabilitys_person_and_deciding_body_go_out_and_back_in_either_form(
    stack: Stack, fresh: Any, example_ledger: bytes
) -> None:
    """person and decided_by (optional): imported, filed by hand (records add), exported, re-imported."""
    stack.import_ledger(example_ledger + (json.dumps(NAMED, ensure_ascii=False) + "\n").encode())
    _, _, scoring = stack.stubs()
    fields = scoring_pb2.CreateRecordRequest().fields
    fields.update({**{k: v for k, v in NAMED.items() if k != "type"}, "id": "A10", "person": "p-fgj-li"})
    del fields["decided_by"]
    scoring.CreateRecord(
        scoring_pb2.CreateRecordRequest(kind=scoring_pb2.RECORD_KIND_ACCOUNTABILITY, fields=fields),
        metadata=stack.metadata(),
        timeout=10,
    )
    lines = exported(stack)
    records = {r["id"]: r for r in map(json.loads, lines) if r["type"] == "accountability"}
    assert records["A9"] == NAMED
    assert records["A10"]["person"] == "p-fgj-li" and "decided_by" not in records["A10"]
    # The example's records, without the new fields, come back as they were.
    assert "person" not in records["A1"] and "decided_by" not in records["A1"]

    as_workbook = fresh()
    book = workbook(stack, lines)
    sheet = load_workbook(io.BytesIO(book))["问责"]
    headers = [c.value for row in sheet.iter_rows(max_row=5) for c in row]
    assert "当事人" in headers and "决定机关" in headers
    as_workbook.import_ledger(book)
    assert exported(as_workbook) == lines
    as_lines = fresh()
    as_lines.import_ledger("".join(line + "\n" for line in lines).encode())
    assert exported(as_lines) == lines
    # A changed deciding body under a known id is a changed record: refused, as for every field.
    changed = json.dumps({**NAMED, "decided_by": "县委组织部"}, ensure_ascii=False).encode()
    with pytest.raises(grpc.RpcError) as refused:
        stack.import_ledger(changed)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
