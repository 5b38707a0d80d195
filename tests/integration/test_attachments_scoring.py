"""附件 on appeals and 容错 applications (kept by scoring): stored, read back, another unit refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from kaohe.scoring.v1 import scoring_pb2

from tests.conftest import Stack
from tests.integration.test_applications import appeals, file
from tests.integration.test_attachments import EXE, PDF, pieces, refused
from tests.integration.test_people_levels import code_of
from tests.wire_read import attachment_kind, read


def scoring_stub(stack: Stack) -> Any:
    return stack.stubs()[2]


def upload(stack: Stack, unit: str | None, kind: str, item: str, name: str, data: bytes) -> Any:
    def messages() -> Iterator[Any]:
        yield scoring_pb2.UploadAttachmentRequest(
            item_kind=attachment_kind(kind), item_id=item, file_name=name
        )
        for chunk in pieces(data):
            yield scoring_pb2.UploadAttachmentRequest(data=chunk)

    role = "department" if unit else "office"
    return read(
        scoring_stub(stack)
        .UploadAttachment(messages(), metadata=stack.metadata(role, unit), timeout=60)
        .attachment
    )


def listed(stack: Stack, role: str, unit: str | None, kind: str, item: str) -> list[Any]:
    reply = scoring_stub(stack).ListAttachments(
        scoring_pb2.ListAttachmentsRequest(item_kind=attachment_kind(kind), item_id=item),
        metadata=stack.metadata(role, unit),
        timeout=10,
    )
    return [read(a) for a in reply.attachments]


def download(stack: Stack, role: str, unit: str | None, attachment_id: str) -> bytes:
    replies = scoring_stub(stack).DownloadAttachment(
        scoring_pb2.DownloadAttachmentRequest(id=attachment_id),
        metadata=stack.metadata(role, unit),
        timeout=30,
    )
    return b"".join(r.data for r in replies)


def test_an_application_and_an_appeal_take_files_their_unit_and_the_office_see(example: Stack) -> None:
    application = file(example, "fgj", "task", "T3")
    made = upload(example, "fgj", "容错申请", application.id, "情况说明.pdf", PDF)
    assert (made.item_kind, made.item_id, made.media_type) == (
        "application",
        application.id,
        "application/pdf",
    )
    assert [a.id for a in listed(example, "office", None, "application", application.id)] == [made.id]
    assert download(example, "viewer", None, made.id) == PDF

    (appeal,) = [a for a in appeals(example) if a.id == "AP1"]
    evidence = upload(example, appeal.unit, "appeal", "AP1", "系统记录截图.pdf", PDF)
    assert [a.id for a in listed(example, "department", appeal.unit, "申诉", "AP1")] == [evidence.id]

    other = "czj" if appeal.unit != "czj" else "fgj"
    for call in (
        lambda: listed(example, "department", other, "appeal", "AP1"),
        lambda: download(example, "department", other, evidence.id),
        lambda: upload(example, other, "appeal", "AP1", "x.pdf", PDF),
        lambda: upload(example, "fgj", "application", "RC-none", "x.pdf", PDF),
    ):
        assert code_of(call) == grpc.StatusCode.NOT_FOUND
    code, details = refused(lambda: upload(example, "fgj", "application", application.id, "a.pdf", EXE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "文件类型不被接受" in details
    assert len(listed(example, "office", None, "application", application.id)) == 1
