"""附件 on a task's page: the list with download links, and an upload form for those who do the work."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.attachments import CHUNK, MAX_BYTES
from services.common.wiretime import rfc3339_of
from services.web.gateway import Gateway, Pending
from services.web.http import HttpError, Request, Response, esc, part, redirect
from services.web.layout import LOCAL, Raw, csrf_field, instant, row, table
from services.web.sessions import Session

EVERYONE = frozenset({"office", "supervisor", "department", "viewer"})
UPLOADERS = frozenset({"office", "supervisor", "department"})
# The multipart form around the file (its boundary and the CSRF field) on top of the file's own limit.
FORM_OVERHEAD = 64 * 1024
MAX_FORM = MAX_BYTES + FORM_OVERHEAD
# A task's, and an extension request's, appeal's or 容错 application's (services/web/item_attachments).
_UPLOAD_PATH = re.compile(r"^/(tasks/[^/]+|items/(extension|appeal|application)/[^/]+)/attachments$")


def is_upload(path: str) -> bool:
    """Whether path is an attachment's upload, whose body the console bounds before reading it."""
    return bool(_UPLOAD_PATH.match(path))


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{max(1, round(size / 1024))} KB"


def start_listing(gw: Gateway, session: Session, task_id: str) -> Pending:
    """The task's attachments asked for now, alongside the page's other calls."""
    return gw.start(
        gw.tasks.ListAttachments,
        tasks_pb2.ListAttachmentsRequest(item_kind=common_pb2.ATTACHMENT_ITEM_KIND_TASK, item_id=task_id),
        session.token,
    )


def section(session: Session, task: Any, listing_call: Pending) -> str:
    """The task's attachments, each a download link; the upload form for the roles that may upload."""
    reply = listing_call.result()
    listing = table(
        ["文件名", "大小", "上传人", "上传时间"],
        [
            row(
                [
                    Raw(f'<a href="/attachments/{part(a.id)}" download>{esc(a.file_name)}</a>'),
                    _size(a.size),
                    a.uploaded_by,
                    instant(rfc3339_of(a, "uploaded_at", LOCAL)),
                ],
                attrs=f' data-attachment="{esc(a.id)}"',
            )
            for a in reply.attachments
        ],
        caption="附件（佐证材料）",
    )
    form = ""
    if session.role in UPLOADERS:
        form = (
            f'<form method="post" action="/tasks/{part(task.id)}/attachments" enctype="multipart/form-data"'
            f' class="stack">{csrf_field(session)}'
            '<label for="attachment-file">上传附件（PDF、图片或 Office 文件，每个不超过 20 MB）</label>'
            '<input id="attachment-file" type="file" name="file" required'
            ' accept=".pdf,.png,.jpg,.jpeg,.gif,.webp,.doc,.docx,.xls,.xlsx,.pptx">'
            '<button type="submit" data-action="attach">上传</button></form>'
        )
    return f'<section aria-label="附件" class="attachments"><h2>附件</h2>{listing}{form}</section>'


def upload(gw: Gateway, session: Session, request: Request) -> Response:
    """The file of the form, passed on to the tasks service in pieces; its refusal shown on the page."""
    task = request.params["task"]
    back = f"/tasks/{part(task)}"
    if len(request.body) > MAX_FORM:
        raise HttpError(413, f"附件：每个附件不得超过 {MAX_BYTES >> 20} MB")
    file = request.files.get("file")
    if file is None or not file.data:
        return redirect(back, error="请选择要上传的文件")

    def messages() -> Iterator[Any]:
        yield tasks_pb2.UploadAttachmentRequest(
            item_kind=common_pb2.ATTACHMENT_ITEM_KIND_TASK, item_id=task, file_name=file.filename
        )
        for start in range(0, len(file.data), CHUNK):
            yield tasks_pb2.UploadAttachmentRequest(data=file.data[start : start + CHUNK])

    made = gw.stream(gw.tasks.UploadAttachment, messages(), session.token).attachment
    return redirect(back, ok=f"已上传附件 {made.file_name}")


def fetch(gw: Gateway, session: Session, request: Request) -> Response:
    """One attachment, to whoever may see its item (the tasks service decides; NOT_FOUND otherwise)."""
    replies = gw.call(
        gw.tasks.DownloadAttachment,
        tasks_pb2.DownloadAttachmentRequest(id=request.params["attachment"]),
        session.token,
    )
    first = next(replies, None)
    if first is None or not first.HasField("attachment"):
        raise HttpError(404, "没有这个附件")
    record = first.attachment

    def pieces() -> Iterator[bytes]:
        # Passed on as the gateway sends them: the console never holds the file whole.
        yield first.data
        for reply in replies:
            yield reply.data

    disposition = f"attachment; filename*=UTF-8''{quote(record.file_name)}"
    return Response(
        b"",
        200,
        record.media_type,
        [("Content-Disposition", disposition)],
        stream=pieces(),
        stream_length=record.size,
    )


DESK: list[tuple[str, str, Any, frozenset[str], str]] = [
    ("POST", "/tasks/{task}/attachments", upload, UPLOADERS, "/tasks/{task}"),
    ("GET", "/attachments/{attachment}", fetch, EVERYONE, ""),
]
