"""附件 on extension requests (tasks service), appeals and 容错 applications (scoring service).

Each listed item gets a cell: its files as download links and, for the unit that filed it, a small upload
form. The services decide who may see and add what (a department its own unit's items); the console only
passes the calls on, a file in pieces as on a task's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services.common.attachments import CHUNK
from services.common.protoenum import enum_number
from services.web.attachments import ACCEPT, UPLOADERS
from services.web.gateway import Gateway, Pending
from services.web.replies import Refused, files_of, part, pieces_of, redirect, streamed
from services.web.sessions import Session
from services.web.templating import fragment

EVERYONE = frozenset({"office", "supervisor", "department", "viewer"})
# Item kind → (the service keeping its files, the page a department files it on).
ITEMS: dict[str, tuple[str, str]] = {
    "extension": ("tasks", "/unit/extensions"),
    "appeal": ("scoring", "/unit/appeals"),
    "application": ("scoring", "/unit/appeals"),
}
_PROTOS: dict[str, Any] = {"tasks": tasks_pb2, "scoring": scoring_pb2}


def _service(gw: Gateway, kind: str) -> Any:
    return gw.tasks if ITEMS[kind][0] == "tasks" else gw.scoring


def _item_kind(kind: str) -> int:
    """The contract's AttachmentItemKind of an item kind's code (extension, appeal, application)."""
    return enum_number(common_pb2.AttachmentItemKind.DESCRIPTOR, kind, field="item_kind")


def _download_path(kind: str, attachment: str) -> str:
    prefix = "/attachments/" if ITEMS[kind][0] == "tasks" else "/record-attachments/"
    return prefix + part(attachment)


def start_cells(gw: Gateway, session: Session, kind: str, item_ids: Iterable[str]) -> dict[str, Pending]:
    """Each item's attachments asked for now (all at once), read when the table is drawn."""
    proto = _PROTOS[ITEMS[kind][0]]
    return {
        item: gw.start(
            _service(gw, kind).ListAttachments,
            proto.ListAttachmentsRequest(item_kind=_item_kind(kind), item_id=item),
            session.token,
        )
        for item in item_ids
    }


def cells(
    session: Session, kind: str, pending: Mapping[str, Pending], *, upload: bool = False
) -> dict[str, Markup]:
    """item id → its 附件 cell; with upload, a form to add one (on a department's own items' page)."""
    out = {}
    for item, call in pending.items():
        files = [
            {"id": a.id, "href": _download_path(kind, a.id), "name": a.file_name}
            for a in call.result().attachments
        ]
        may_add = upload and session.role in UPLOADERS
        out[item] = fragment(
            "tasks/item_files.html",
            files=files,
            action=f"/items/{kind}/{part(item)}/attachments" if may_add else "",
            ident=f"file-{kind}-{item}",
            accept=ACCEPT,
            csrf=session.csrf,
        )
    return out


def upload(gw: Gateway, session: Session, request: Request) -> Response:
    """The form's file, passed on in pieces to the service keeping the item; its refusal shown on the page."""
    kind, item = request.path_params["kind"], request.path_params["item"]
    if kind not in ITEMS:
        raise Refused(404, f"没有“{kind}”这类事项")
    back = ITEMS[kind][1] if session.role == "department" else "/office"
    file = files_of(request).get("file")
    if file is None or not file.size:
        return redirect(back, error="请选择要上传的文件")
    proto = _PROTOS[ITEMS[kind][0]]

    def messages() -> Iterator[Any]:
        yield proto.UploadAttachmentRequest(item_kind=_item_kind(kind), item_id=item, file_name=file.filename)
        for piece in pieces_of(file, CHUNK):
            yield proto.UploadAttachmentRequest(data=piece)

    made = gw.stream(_service(gw, kind).UploadAttachment, messages(), session.token).attachment
    return redirect(back, ok=f"已上传附件 {made.file_name}（{item}）")


def fetch(gw: Gateway, session: Session, request: Request) -> Response:
    """An appeal's or application's file, to whoever may see the item (scoring decides; 404 otherwise)."""
    replies = gw.call(
        gw.scoring.DownloadAttachment,
        scoring_pb2.DownloadAttachmentRequest(id=request.path_params["attachment"]),
        session.token,
    )
    first = next(replies, None)
    if first is None or not first.HasField("attachment"):
        raise Refused(404, "没有这个附件")
    record = first.attachment

    def pieces() -> Iterator[bytes]:
        yield first.data
        for reply in replies:
            yield reply.data

    return streamed(pieces(), length=record.size, filename=record.file_name, content_type=record.media_type)


DESK: list[tuple[str, str, Any, frozenset[str], str]] = [
    ("POST", "/items/{kind}/{item}/attachments", upload, UPLOADERS, ""),
    ("GET", "/record-attachments/{attachment}", fetch, EVERYONE, ""),
]
