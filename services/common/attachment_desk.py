"""附件's use cases, alike in every service keeping evidence: upload, list, read, held to its readers."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import tzinfo
from typing import Any

from sqlalchemy import Connection, Table

from services.common import attachment_records as records
from services.common.attachments import AttachmentStore, media_type, receive, safe_name
from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.db import Database
from services.common.errors import InvalidArgument, NotFound
from services.common.idempotency import idempotent
from services.common.text import check_id, check_text
from services.common.timeutil import iso

# Ids made here: a plain alphabet, safe in a URL and a file name.
ATTACHMENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")
# Raises NotFound unless the item (kind, id) exists and the actor may see it.
ItemCheck = Callable[[Connection, Identity, str, str], None]


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
    # The caller's id of the upload: the same id again (same item, same bytes) answers the first attachment.
    request_id: str = ""


@dataclass(frozen=True)
class Kinds:
    """The item kinds a service keeps files on: each code with its Chinese label (both accepted)."""

    labels: dict[str, str]

    def parse(self, text: str) -> str:
        text = (text or "").strip()
        for code, label in self.labels.items():
            if text in (code, label):
                return code
        named = "、".join(f"{label}（{code}）" for code, label in self.labels.items())
        raise InvalidArgument("item_kind", f"附件只能属于{named}")


class AttachmentDesk:
    """Uploads checked and stored, listed and read back, each held to the item's visibility."""

    def __init__(
        self,
        *,
        db: Database,
        table: Table,
        requests: Table,
        files: AttachmentStore,
        kinds: Kinds,
        check_item: ItemCheck,
        audit: AuditTrail,
        tz: Callable[[], tzinfo],
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.db = db
        self.table = table
        self.requests = requests
        self.files = files
        self.kinds = kinds
        self.check_item = check_item
        self.audit = audit
        self.tz = tz
        self.clock = clock or (lambda: int(time.time()))

    def view(self, row: Any) -> AttachmentView:
        return AttachmentView(
            id=row.id,
            sha256=row.sha256,
            size=row.size,
            media_type=row.media_type,
            file_name=row.file_name,
            item_kind=row.item_kind,
            item_id=row.item_id,
            uploaded_by=row.uploaded_by,
            uploaded_at=iso(row.uploaded_at, self.tz()),
        )

    def _check(self, conn: Connection, actor: Identity, kind: str, item_id: str) -> None:
        """NotFound in the same words whether the item is missing or another unit's."""
        try:
            self.check_item(conn, actor, kind, item_id)
        except NotFound:
            raise NotFound(f"{self.kinds.labels[kind]} {item_id!r} 不存在") from None

    def upload(self, *, actor: Identity, head: Upload, chunks: Iterable[bytes]) -> AttachmentView:
        """Stores the file the chunks carry on the item head names; refused before any byte is kept."""
        kind = self.kinds.parse(head.item_kind)
        item_id = check_id("item_id", head.item_id)
        if not item_id:
            raise InvalidArgument("item_id", "请指明附件所属事项的编号")
        check_text("file_name", head.file_name, max_len=1000)
        name = safe_name(head.file_name)
        with self.db.read() as conn:
            self._check(conn, actor, kind, item_id)
        with receive(chunks, self.files.spool_dir) as got:
            media = media_type(got.path, name)
            # Stored before its record: a record never names missing bytes; bytes without a record
            # (the write failing) are harmless and taken again by the same content's next upload.
            self.files.put(got.sha256, got.path)
        at = self.clock()
        made = AttachmentView(
            id="FJ" + uuid.uuid4().hex[:20],
            sha256=got.sha256,
            size=got.size,
            media_type=media,
            file_name=name,
            item_kind=kind,
            item_id=item_id,
            uploaded_by=actor.subject[:200],
            uploaded_at=iso(at, self.tz()),
        )

        def store(conn: Connection) -> AttachmentView:
            # Checked again in the write: the item may not have been readable any more by now.
            self._check(conn, actor, kind, item_id)
            records.add(conn, self.table, **{**asdict(made), "uploaded_at": at})
            self.audit.changed(
                conn, actor=actor, method="UploadAttachment", target=f"{kind}:{item_id}", detail=made.id
            )
            return made

        # The bytes are content-addressed already; a retry under the same request id (the same item, the
        # same bytes, the same name) gets the attachment the first upload stored, not a second one.
        return idempotent(
            self.db,
            self.requests,
            caller=actor,
            method="UploadAttachment",
            request_id=head.request_id,
            request={"item_kind": kind, "item_id": item_id, "sha256": got.sha256, "file_name": name},
            work=store,
            encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
            decode=lambda b: AttachmentView(**json.loads(b)),
        )

    def list_of(self, *, actor: Identity, kind: str, item_id: str) -> list[AttachmentView]:
        kind = self.kinds.parse(kind)
        item_id = check_id("item_id", item_id)
        with self.db.read() as conn:
            self._check(conn, actor, kind, item_id)
            return [self.view(r) for r in records.of_item(conn, self.table, kind, item_id)]

    def rows_of(self, kind: str, item_id: str) -> list[Any]:
        """An item's attachment records, for its history; its reader already checked."""
        with self.db.read() as conn:
            return records.of_item(conn, self.table, kind, item_id)

    def open(self, *, actor: Identity, attachment_id: str) -> tuple[AttachmentView, Iterator[bytes]]:
        """The attachment's record and its bytes, to who may see its item; NotFound otherwise."""
        if not ATTACHMENT_ID.fullmatch(attachment_id or ""):
            raise InvalidArgument("id", "附件编号只由字母和数字组成，如 FJ0123456789abcdef0123")
        with self.db.read() as conn:
            row = records.get(conn, self.table, attachment_id)
            if row is None:
                raise NotFound(f"附件 {attachment_id!r} 不存在")
            try:
                self.check_item(conn, actor, row.item_kind, row.item_id)
            except NotFound:
                raise NotFound(f"附件 {attachment_id!r} 不存在") from None
            view = self.view(row)
        return view, self.files.read(view.sha256)
