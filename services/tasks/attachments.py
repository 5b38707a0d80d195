"""附件 the tasks service keeps: on a task (its 反馈, 进展) or an extension request, seen by its readers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from services.common.attachment_desk import AttachmentDesk, Kinds
from services.common.attachments import AttachmentStore
from services.common.auth import Identity
from services.common.errors import NotFound
from services.common.timeutil import iso
from services.tasks.storage import attachments as store
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import attachments, requests

if TYPE_CHECKING:
    from services.tasks.use_cases import EventView, TasksApp

KINDS = Kinds({"task": "任务", "extension": "延期申请"})


def task_desk(app: TasksApp, files: AttachmentStore) -> AttachmentDesk:
    """The desk over the tasks database: an item is seen by whoever may read its task."""

    def check(conn: Connection, actor: Identity, kind: str, item_id: str) -> None:
        task_id = store.extension_task(conn, item_id) if kind == "extension" else item_id
        row = repo.get_task(conn, task_id) if task_id is not None else None
        if row is None:
            raise NotFound(f"{item_id!r}")
        app._readable(actor, row, conn)

    return AttachmentDesk(
        db=app.db,
        table=attachments,
        requests=requests,
        files=files,
        kinds=KINDS,
        check_item=check,
        audit=app.audit,
        tz=lambda: app.tz,
    )


def history(app: TasksApp, desk: AttachmentDesk, task_id: str) -> list[EventView]:
    """A task's attachments as entries of its history ("附件：<name>"); its reader already checked."""
    from services.tasks.use_cases import EventView

    return [
        EventView(0, "attachment", iso(r.uploaded_at, app.tz), r.uploaded_by, f"附件：{r.file_name}", False)
        for r in desk.rows_of("task", task_id)
    ]
