"""附件（佐证材料）: files on a task (its 反馈, 进展) or an extension request, seen by who may see it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from services.common.attachments import AttachmentStore, media_type, receive, safe_name
from services.common.auth import Identity
from services.common.errors import InvalidArgument, NotFound
from services.common.text import check_id, check_text
from services.common.timeutil import iso
from services.tasks.storage import attachments as store
from services.tasks.storage import repository as repo

if TYPE_CHECKING:
    from services.tasks.use_cases import EventView, TasksApp

KINDS = {"task": "task", "任务": "task", "extension": "extension", "延期申请": "extension"}
# Ids made here: a plain alphabet, safe in a URL and a file name.
ATTACHMENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")
KIND_LABELS = {"task": "任务", "extension": "延期申请"}


@dataclass
class AttachmentView:
    id: str
    sha256: str
    size: int
    media_type: str
    file_name: str
    item_kind: str
    item_id: str
    uploaded_by: str
    uploaded_at: str


@dataclass(frozen=True)
class Upload:
    """The first message of an upload: which item, under which name; the bytes follow."""

    item_kind: str
    item_id: str
    file_name: str


class AttachmentDesk:
    """Uploads checked and stored, listed and read back, each held to the item's visibility."""

    def __init__(self, app: TasksApp, files: AttachmentStore, clock: Callable[[], int] | None = None) -> None:
        self.app = app
        self.files = files
        self.clock = clock or (lambda: int(time.time()))

    def _view(self, row: Any) -> AttachmentView:
        return AttachmentView(
            id=row.id,
            sha256=row.sha256,
            size=row.size,
            media_type=row.media_type,
            file_name=row.file_name,
            item_kind=row.item_kind,
            item_id=row.item_id,
            uploaded_by=row.uploaded_by,
            uploaded_at=iso(row.uploaded_at, self.app.tz),
        )

    def _check_item(self, conn: Connection, actor: Identity, kind: str, item_id: str) -> None:
        """NotFound unless the item exists and actor may see it (the same words either way)."""
        task_id: str | None = item_id
        if kind == "extension":
            task_id = store.extension_task(conn, item_id)
        row = repo.get_task(conn, task_id) if task_id is not None else None
        if row is None:
            raise NotFound(f"{KIND_LABELS[kind]} {item_id!r} 不存在")
        try:
            self.app._readable(actor, row, conn)
        except NotFound:
            raise NotFound(f"{KIND_LABELS[kind]} {item_id!r} 不存在") from None

    def upload(self, *, actor: Identity, head: Upload, chunks: Iterable[bytes]) -> AttachmentView:
        """Stores the file the chunks carry on the item head names; refused before any byte is kept."""
        kind = item_kind(head.item_kind)
        item_id = check_id("item_id", head.item_id)
        if not item_id:
            raise InvalidArgument("item_id", "请指明附件所属事项的编号")
        check_text("file_name", head.file_name, max_len=1000)
        name = safe_name(head.file_name)
        with self.app.db.read() as conn:
            self._check_item(conn, actor, kind, item_id)
        with receive(chunks, self.files.spool_dir) as got:
            media = media_type(got.path, name)
            # Stored before its record: a record never names missing bytes; bytes without a record
            # (the write failing) are harmless and taken again by the same content's next upload.
            self.files.put(got.sha256, got.path)
        at = self.clock()
        view = AttachmentView(
            id="FJ" + uuid.uuid4().hex[:20],
            sha256=got.sha256,
            size=got.size,
            media_type=media,
            file_name=name,
            item_kind=kind,
            item_id=item_id,
            uploaded_by=actor.subject[:200],
            uploaded_at=iso(at, self.app.tz),
        )
        with self.app.db.write() as conn:
            # Checked again in the write: the item may not have been readable any more by now.
            self._check_item(conn, actor, kind, item_id)
            store.add(conn, **{**asdict(view), "uploaded_at": at})
            self.app.audit.changed(
                conn, actor=actor, method="UploadAttachment", target=f"{kind}:{item_id}", detail=view.id
            )
        return view

    def list_of(self, *, actor: Identity, kind: str, item_id: str) -> list[AttachmentView]:
        kind = item_kind(kind)
        item_id = check_id("item_id", item_id)
        with self.app.db.read() as conn:
            self._check_item(conn, actor, kind, item_id)
            return [self._view(r) for r in store.of_item(conn, kind, item_id)]

    def open(self, *, actor: Identity, attachment_id: str) -> tuple[AttachmentView, Iterator[bytes]]:
        """The attachment's record and its bytes, to who may see its item; NotFound otherwise."""
        if not ATTACHMENT_ID.fullmatch(attachment_id or ""):
            raise InvalidArgument("id", "附件编号只由字母和数字组成，如 FJ0123456789abcdef0123")
        with self.app.db.read() as conn:
            row = store.get(conn, attachment_id)
            if row is None:
                raise NotFound(f"附件 {attachment_id!r} 不存在")
            try:
                self._check_item(conn, actor, row.item_kind, row.item_id)
            except NotFound:
                raise NotFound(f"附件 {attachment_id!r} 不存在") from None
            view = self._view(row)
        return view, self.files.read(view.sha256)

    def history(self, task_id: str) -> list[EventView]:
        """A task's attachments as entries of its history ("附件：<name>"); its reader already checked."""
        from services.tasks.use_cases import EventView

        with self.app.db.read() as conn:
            rows = store.of_item(conn, "task", task_id)
        return [
            EventView(
                0, "attachment", iso(r.uploaded_at, self.app.tz), r.uploaded_by, f"附件：{r.file_name}", False
            )
            for r in rows
        ]


def item_kind(text: str) -> str:
    """The item kind as its code or Chinese label; InvalidArgument naming both otherwise."""
    kind = KINDS.get((text or "task").strip())
    if kind is None:
        raise InvalidArgument("item_kind", "附件只能属于任务（task）或延期申请（extension）")
    return kind
