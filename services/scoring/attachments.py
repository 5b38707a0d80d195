"""附件 kept by scoring: on an appeal (申诉) or a 容错 application, seen by its unit and the office."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from services.common.attachment_desk import AttachmentDesk, Kinds
from services.common.attachments import AttachmentStore
from services.common.auth import Identity
from services.common.errors import NotFound
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.storage.tables import attachments, requests

if TYPE_CHECKING:
    from services.scoring.use_cases import ScoringApp

KINDS = Kinds({"appeal": "申诉", "application": "容错申请"})


def scoring_desk(app: ScoringApp, files: AttachmentStore) -> AttachmentDesk:
    """The desk over the scoring database: a department sees its own unit's appeals and applications."""

    def check(conn: Connection, actor: Identity, kind: str, item_id: str) -> None:
        if kind == "appeal":
            row = repo.get_record(conn, kind="appeal", rid=item_id)
        else:
            row = flow.get_application(conn, item_id)
        # Another unit's item is, to a department, one that does not exist (the same words).
        if row is None or (actor.is_department and row.unit != actor.unit):
            raise NotFound(f"{item_id!r}")

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
