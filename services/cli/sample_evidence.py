"""The sample county's 附件: a one-page PDF 办结报告 on a few reported tasks, uploaded by their own units.

A ledger holds no files, so these go through the gateway after the sample is imported, as a clerk's upload
in the console would; a newcomer opening a reported task finds its evidence listed and downloadable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

Metadata = Callable[[str, str | None], tuple[tuple[str, str], ...]]
HOW_MANY = 3


def report_pdf(task_id: str) -> bytes:
    """A valid one-page PDF naming the task (ASCII only: the base-14 fonts carry no Chinese)."""
    text = f"Kaohe sample evidence: completion report of task {task_id}".replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def attach_sample_evidence(channel: grpc.Channel, metadata: Metadata) -> list[str]:
    """Uploads a 办结报告 on the first reported tasks, each by its lead unit; the task ids attached to."""
    stub = tasks_pb2_grpc.TasksServiceStub(channel)
    office = metadata("office", None)
    listed = stub.ListTasks(tasks_pb2.ListTasksRequest(page_size=5000), metadata=office, timeout=60).tasks
    reported = [t for t in listed if t.HasField("reported_at")][:HOW_MANY]
    done = []
    for task in reported:
        already = stub.ListAttachments(
            tasks_pb2.ListAttachmentsRequest(item_kind=common_pb2.ATTACHMENT_ITEM_KIND_TASK, item_id=task.id),
            metadata=office,
            timeout=30,
        )
        if already.attachments:
            continue

        def messages(task_id: str = task.id) -> Iterator[tasks_pb2.UploadAttachmentRequest]:
            yield tasks_pb2.UploadAttachmentRequest(
                item_kind=common_pb2.ATTACHMENT_ITEM_KIND_TASK,
                item_id=task_id,
                file_name=f"{task_id} 办结报告.pdf",
            )
            yield tasks_pb2.UploadAttachmentRequest(data=report_pdf(task_id))

        stub.UploadAttachment(messages(), metadata=metadata("department", task.lead_unit), timeout=60)
        done.append(task.id)
    return done
