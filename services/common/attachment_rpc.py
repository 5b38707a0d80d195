"""附件's three RPCs for both services (tasks, scoring): kaohe.common.v1.Attachment in and out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from kaohe.common.v1 import common_pb2

from services.common.attachment_desk import AttachmentDesk, AttachmentView, Upload
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.protoenum import enum_code, enum_number
from services.common.rpc import current_identity
from services.common.wiretime import instant

KIND = common_pb2.AttachmentItemKind.DESCRIPTOR


class UploadMessage(Protocol):
    """One message of an upload, as both services' UploadAttachmentRequest carry it."""

    item_kind: common_pb2.AttachmentItemKind
    item_id: str
    file_name: str
    data: bytes
    request_id: str


def _desk(desk: AttachmentDesk | None) -> AttachmentDesk:
    if desk is None:
        raise FailedPrecondition("附件存储未配置")
    return desk


def attachment_message(view: AttachmentView) -> common_pb2.Attachment:
    """An attachment as both services answer it: its item's kind an enum, its upload an instant."""
    return common_pb2.Attachment(
        id=view.id,
        sha256=view.sha256,
        size=view.size,
        media_type=view.media_type,
        file_name=view.file_name,
        item_kind=enum_number(KIND, view.item_kind, field="item_kind"),  # type: ignore[arg-type]
        item_id=view.item_id,
        uploaded_by=view.uploaded_by,
        uploaded_at=instant(datetime.fromisoformat(view.uploaded_at)),
    )


def upload(desk: AttachmentDesk | None, messages: Iterator[UploadMessage]) -> common_pb2.Attachment:
    """The attachment the chunks carry; the first message names the item, the file and the request."""
    first = next(messages, None)
    if first is None:
        raise InvalidArgument("附件", "上传内容为空")
    head = Upload(
        item_kind=enum_code(KIND, first.item_kind),
        item_id=first.item_id,
        file_name=first.file_name,
        request_id=first.request_id,
    )
    # The bytes are read as they arrive, written to a temporary file: never held here whole.
    chunks = (m.data for m in itertools.chain([first], messages))
    return attachment_message(_desk(desk).upload(actor=current_identity(), head=head, chunks=chunks))


def list_of(
    desk: AttachmentDesk | None, item_kind: common_pb2.AttachmentItemKind, item_id: str
) -> list[common_pb2.Attachment]:
    views = _desk(desk).list_of(actor=current_identity(), kind=enum_code(KIND, item_kind), item_id=item_id)
    return [attachment_message(v) for v in views]


def download(
    desk: AttachmentDesk | None, attachment_id: str
) -> Iterator[tuple[common_pb2.Attachment | None, bytes]]:
    """(the attachment, b"") first, then (None, the next bytes) for each chunk."""
    view, chunks = _desk(desk).open(actor=current_identity(), attachment_id=attachment_id)
    yield attachment_message(view), b""
    for chunk in chunks:
        yield None, chunk
