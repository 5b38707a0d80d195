"""附件 on a task's page: the list with download links, and an upload form for those who do the work."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.attachments import CHUNK, MAX_BYTES
from services.common.wiretime import rfc3339_of
from services.web.gateway import Gateway, Pending
from services.web.layout import LOCAL
from services.web.replies import Refused, files_of, part, pieces_of, redirect, streamed
from services.web.sessions import Session
from services.web.templating import fragment

EVERYONE = frozenset({"office", "supervisor", "department", "viewer"})
UPLOADERS = frozenset({"office", "supervisor", "department"})
# The multipart form around the file (its boundary and the CSRF field) on top of the file's own limit.
FORM_OVERHEAD = 64 * 1024
MAX_FORM = MAX_BYTES + FORM_OVERHEAD
# A task's, and an extension request's, appeal's or 容错 application's (services/web/item_attachments).
# What the file picker offers (a hint only: the services judge a file by its content).
ACCEPT = ".pdf,.png,.jpg,.jpeg,.gif,.webp,.doc,.docx,.xls,.xlsx,.pptx"
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


def section(session: Session, task: Any, listing_call: Pending) -> Markup:
    """The task's attachments, each a download link; the upload form for the roles that may upload."""
    files = [
        {
            "id": a.id,
            "href": "/attachments/" + part(a.id),
            "name": a.file_name,
            "size": _size(a.size),
            "by": a.uploaded_by,
            "at": rfc3339_of(a, "uploaded_at", LOCAL),
        }
        for a in listing_call.result().attachments
    ]
    return fragment(
        "tasks/attachments.html",
        files=files,
        action=f"/tasks/{part(task.id)}/attachments" if session.role in UPLOADERS else "",
        accept=ACCEPT,
        csrf=session.csrf,
    )


def upload(gw: Gateway, session: Session, request: Request) -> Response:
    """The file of the form, passed on to the tasks service in pieces; its refusal shown on the page."""
    task = request.path_params["task"]
    back = f"/tasks/{part(task)}"
    file = files_of(request).get("file")
    if file is None or not file.size:
        return redirect(back, error="请选择要上传的文件")

    def messages() -> Iterator[Any]:
        yield tasks_pb2.UploadAttachmentRequest(
            item_kind=common_pb2.ATTACHMENT_ITEM_KIND_TASK, item_id=task, file_name=file.filename
        )
        for piece in pieces_of(file, CHUNK):
            yield tasks_pb2.UploadAttachmentRequest(data=piece)

    made = gw.stream(gw.tasks.UploadAttachment, messages(), session.token).attachment
    return redirect(back, ok=f"已上传附件 {made.file_name}")


def fetch(gw: Gateway, session: Session, request: Request) -> Response:
    """One attachment, to whoever may see its item (the tasks service decides; NOT_FOUND otherwise)."""
    replies = gw.call(
        gw.tasks.DownloadAttachment,
        tasks_pb2.DownloadAttachmentRequest(id=request.path_params["attachment"]),
        session.token,
    )
    first = next(replies, None)
    if first is None or not first.HasField("attachment"):
        raise Refused(404, "没有这个附件")
    record = first.attachment

    def pieces() -> Iterator[bytes]:
        # Passed on as the gateway sends them: the console never holds the file whole.
        yield first.data
        for reply in replies:
            yield reply.data

    return streamed(pieces(), length=record.size, filename=record.file_name, content_type=record.media_type)


DESK: list[tuple[str, str, Any, frozenset[str], str]] = [
    ("POST", "/tasks/{task}/attachments", upload, UPLOADERS, "/tasks/{task}"),
    ("GET", "/attachments/{attachment}", fetch, EVERYONE, ""),
]
