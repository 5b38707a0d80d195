"""附件's three RPCs, protobuf in and out, for a service's messages module (tasks_pb2, scoring_pb2)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict
from types import ModuleType
from typing import Any

from services.common.attachment_desk import AttachmentDesk, Upload
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.rpc import current_identity


def _desk(desk: AttachmentDesk | None) -> AttachmentDesk:
    if desk is None:
        raise FailedPrecondition("附件存储未配置")
    return desk


def upload(desk: AttachmentDesk | None, pb2: ModuleType, request_iterator: Iterator[Any]) -> Any:
    messages = iter(request_iterator)
    first = next(messages, None)
    if first is None:
        raise InvalidArgument("附件", "上传内容为空")
    head = Upload(item_kind=first.item_kind, item_id=first.item_id, file_name=first.file_name)
    # The bytes are read as they arrive, written to a temporary file: never held here whole.
    chunks = (m.data for m in itertools.chain([first], messages))
    view = _desk(desk).upload(actor=current_identity(), head=head, chunks=chunks)
    return pb2.Attachment(**asdict(view))


def list_of(desk: AttachmentDesk | None, pb2: ModuleType, request: Any) -> Any:
    views = _desk(desk).list_of(actor=current_identity(), kind=request.item_kind, item_id=request.item_id)
    return pb2.ListAttachmentsResponse(attachments=[pb2.Attachment(**asdict(v)) for v in views])


def download(desk: AttachmentDesk | None, pb2: ModuleType, request: Any) -> Iterator[Any]:
    view, chunks = _desk(desk).open(actor=current_identity(), attachment_id=request.id)
    yield pb2.AttachmentChunk(attachment=pb2.Attachment(**asdict(view)))
    for chunk in chunks:
        yield pb2.AttachmentChunk(data=chunk)
