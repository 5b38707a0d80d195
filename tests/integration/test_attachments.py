"""附件 through the gateway: type by content, size limit, scoping, bounded memory, kept on void."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kaohe.tasks.v1 import tasks_pb2

from services.common.attachments import CHUNK, MAX_BYTES
from tests.conftest import Stack
from tests.integration.test_people_levels import AT, code_of, jsonl
from tests.wire_read import attachment_kind, read

LEDGER: list[dict[str, Any]] = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
    {"type": "unit", "id": "xz1", "name": "城关镇", "category": "township"},
    {"type": "unit", "id": "xz2", "name": "大安镇", "category": "township"},
    {"type": "unit", "id": "c11", "name": "城关镇东村", "category": "village", "parent": "xz1"},
    {
        "type": "task",
        "id": "F1",
        "title": "项目申报",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": AT,
    },
    {
        "type": "task",
        "id": "V1",
        "title": "东村整治",
        "task_type": "leader_directive",
        "lead_unit": "c11",
        "assigned_at": AT,
    },
    {
        "type": "task",
        "id": "F2",
        "title": "长期项目",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "assigned_at": AT,
        "due_at": "2099-12-31T23:59:59+08:00",
    },
]
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50 + b"%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 2000


@pytest.fixture
def county(stack: Stack) -> Stack:
    stack.import_ledger(jsonl(LEDGER))
    return stack


def tasks_stub(stack: Stack) -> Any:
    return stack.stubs()[1]


def pieces(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def upload(
    stack: Stack,
    role: str,
    unit: str | None,
    item: str,
    name: str,
    chunks: Iterator[bytes] | bytes,
    kind: str = "task",
    request_id: str = "",
) -> Any:
    """UploadAttachment as role of unit: the first message names the item and the file."""
    if isinstance(chunks, bytes):
        chunks = pieces(chunks)

    def messages() -> Iterator[Any]:
        yield tasks_pb2.UploadAttachmentRequest(
            item_kind=attachment_kind(kind), item_id=item, file_name=name, request_id=request_id
        )
        for chunk in chunks:
            yield tasks_pb2.UploadAttachmentRequest(data=chunk)

    return read(
        tasks_stub(stack)
        .UploadAttachment(messages(), metadata=stack.metadata(role, unit), timeout=60)
        .attachment
    )


def listed(stack: Stack, role: str, unit: str | None, item: str, kind: str = "task") -> list[Any]:
    reply = tasks_stub(stack).ListAttachments(
        tasks_pb2.ListAttachmentsRequest(item_kind=attachment_kind(kind), item_id=item),
        metadata=stack.metadata(role, unit),
        timeout=10,
    )
    return [read(a) for a in reply.attachments]


def download(stack: Stack, role: str, unit: str | None, attachment_id: str) -> tuple[Any, bytes]:
    replies = tasks_stub(stack).DownloadAttachment(
        tasks_pb2.DownloadAttachmentRequest(id=attachment_id), metadata=stack.metadata(role, unit), timeout=30
    )
    first = next(replies)
    return read(first.attachment), first.data + b"".join(r.data for r in replies)


def stored_files(stack: Stack) -> list[Path]:
    root = stack.audit_path.parent / "attachments"
    return [p for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"] if root.exists() else []


def refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), error.value.details() or ""


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("调研报告")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_report_with_a_pdf_is_stored_by_hash_listed_in_the_history_and_read_back(county: Stack) -> None:
    made = upload(county, "department", "fgj", "F1", "../报告/办结报告.pdf", PDF)
    assert (made.media_type, made.file_name, made.size) == ("application/pdf", "办结报告.pdf", len(PDF))
    sha = hashlib.sha256(PDF).hexdigest()
    assert made.sha256 == sha
    assert [p.relative_to(p.parent.parent).as_posix() for p in stored_files(county)] == [
        f"{sha[:2]}/{sha[2:]}"
    ]
    assert [a.id for a in listed(county, "office", None, "F1")] == [made.id]
    task = (
        tasks_stub(county)
        .GetTask(tasks_pb2.GetTaskRequest(id="F1"), metadata=county.metadata(), timeout=10)
        .task
    )
    assert "附件：办结报告.pdf" in [e.note for e in task.history]
    record, data = download(county, "office", None, made.id)
    assert (record.file_name, data) == ("办结报告.pdf", PDF)
    # The same content again: a second record, one stored file.
    upload(county, "department", "fgj", "F1", "again.pdf", PDF)
    assert len(listed(county, "department", "fgj", "F1")) == 2 and len(stored_files(county)) == 1


def test_an_upload_sent_again_under_its_request_id_answers_the_first_attachment(county: Stack) -> None:
    first = upload(county, "department", "fgj", "F1", "办结报告.pdf", PDF, request_id="upload-1")
    again = upload(county, "department", "fgj", "F1", "办结报告.pdf", PDF, request_id="upload-1")
    assert again == first
    assert [a.id for a in listed(county, "office", None, "F1")] == [first.id]
    # The same id for other bytes is another request: refused, nothing stored.
    code, details = refused(
        lambda: upload(county, "department", "fgj", "F1", "办结报告.pdf", PDF + b"%", request_id="upload-1")
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details
    assert [a.id for a in listed(county, "office", None, "F1")] == [first.id]


def test_the_type_is_read_from_the_content_not_the_name(county: Stack) -> None:
    code, details = refused(lambda: upload(county, "department", "fgj", "F1", "报告.pdf", EXE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "文件类型不被接受" in details and "PDF" in details
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("word/document.xml", "<x/>")
    code, details = refused(lambda: upload(county, "department", "fgj", "F1", "a.docx", plain_zip.getvalue()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "文件类型" in details
    assert listed(county, "office", None, "F1") == [] and stored_files(county) == []
    docx = upload(county, "department", "fgj", "F1", "调研.docx", docx_bytes())
    assert docx.media_type.endswith("wordprocessingml.document")
    xls = upload(
        county, "department", "fgj", "F1", "台账.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    )
    assert xls.media_type == "application/vnd.ms-excel"
    png = upload(county, "department", "fgj", "F1", "photo", b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert png.media_type == "image/png"


def test_more_than_20_mb_is_refused_and_nothing_is_kept(county: Stack) -> None:
    def too_big() -> Iterator[bytes]:
        yield b"%PDF-1.7\n"
        for _ in range(MAX_BYTES // CHUNK):
            yield bytes(CHUNK)

    code, details = refused(lambda: upload(county, "department", "fgj", "F1", "big.pdf", too_big()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "20 MB" in details
    assert listed(county, "office", None, "F1") == [] and stored_files(county) == []
    assert not any((county.audit_path.parent / "attachments" / "tmp").iterdir())


def test_a_file_is_seen_only_by_who_may_see_its_item(county: Stack) -> None:
    mine = upload(county, "department", "fgj", "F1", "a.pdf", PDF)
    village = upload(county, "department", "c11", "V1", "村.pdf", PDF)
    for call in (
        lambda: upload(county, "department", "czj", "F1", "x.pdf", PDF),
        lambda: listed(county, "department", "czj", "F1"),
        lambda: download(county, "department", "czj", mine.id),
        lambda: download(county, "department", "xz2", village.id),
        lambda: listed(county, "department", "xz2", "V1"),
    ):
        assert code_of(call) == grpc.StatusCode.NOT_FOUND
    assert (
        code_of(lambda: upload(county, "viewer", None, "F1", "x.pdf", PDF))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    # The 乡镇 sees its 村's evidence; the office and the supervisor see everything.
    assert [a.id for a in listed(county, "department", "xz1", "V1")] == [village.id]
    assert download(county, "department", "xz1", village.id)[1] == PDF
    assert download(county, "supervisor", None, mine.id)[1] == PDF
    assert code_of(lambda: download(county, "office", None, "../etc")) == grpc.StatusCode.INVALID_ARGUMENT


def test_an_extension_request_takes_files_and_a_voided_task_keeps_them(county: Stack) -> None:
    ext = (
        tasks_stub(county)
        .FileExtension(
            tasks_pb2.FileExtensionRequest(task_id="F2", due_at="2100-06-30", reason="材料未齐"),
            metadata=county.metadata("department", "fgj"),
            timeout=10,
        )
        .extension
    )
    on_ext = upload(county, "department", "fgj", ext.id, "说明.pdf", PDF, kind="延期申请")
    assert (on_ext.item_kind, on_ext.item_id) == ("extension", ext.id)
    assert [a.id for a in listed(county, "office", None, ext.id, kind="extension")] == [on_ext.id]
    assert (
        code_of(lambda: listed(county, "department", "czj", ext.id, kind="extension"))
        == grpc.StatusCode.NOT_FOUND
    )
    on_task = upload(county, "department", "fgj", "F1", "a.pdf", PDF)
    tasks_stub(county).CancelTask(
        tasks_pb2.CancelTaskRequest(id="F1", note="重复立项"), metadata=county.metadata(), timeout=10
    )
    assert [a.id for a in listed(county, "department", "fgj", "F1")] == [on_task.id]
    assert download(county, "office", None, on_task.id)[1] == PDF


def test_a_15_mb_upload_streams_through_in_bounded_memory(county: Stack) -> None:
    size = 15 << 20

    def fifteen_mb() -> Iterator[bytes]:
        yield b"%PDF-1.7\n"
        sent = 9
        while sent < size:
            piece = bytes(min(CHUNK, size - sent))
            sent += len(piece)
            yield piece

    # Every service runs in this process: tracemalloc sees the gateway's and tasks' Python allocations.
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        made = upload(county, "department", "fgj", "F1", "大文件.pdf", fifteen_mb())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made.size == size
    growth = peak - before
    print(f"peak Python memory growth for a {size >> 20} MB upload: {growth / (1 << 20):.2f} MB")
    assert growth < size // 4


def test_the_sample_evidence_is_a_pdf_its_unit_uploads_once(county: Stack) -> None:
    from services.cli.sample_evidence import attach_sample_evidence, report_pdf

    for task, unit in (("F1", "fgj"), ("V1", "c11")):
        for step in ("AcceptTask", "ReportTask"):
            getattr(tasks_stub(county), step)(
                getattr(tasks_pb2, step + "Request")(id=task, note="已完成"),
                metadata=county.metadata("department", unit),
                timeout=10,
            )
    channel = county.channel()
    assert attach_sample_evidence(channel, county.metadata) == ["F1", "V1"]
    assert attach_sample_evidence(channel, county.metadata) == []
    (record,) = listed(county, "department", "xz1", "V1")
    assert (record.media_type, record.file_name) == ("application/pdf", "V1 办结报告.pdf")
    assert download(county, "office", None, record.id)[1] == report_pdf("V1")
