"""Appeals name what they contest as target_type + target (an error report or an accountability record).

Appeals stored before name their error report in the field error_report; they are rewritten to the
one form new ones are stored in, so that importing an old ledger again finds them unchanged.
Target records (目标责任书) need no new table: they are records of kind "target".

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

records = sa.table(
    "records",
    sa.column("seq", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("payload", sa.Text),
)


def _rewrite(*, forward: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(records.c.seq, records.c.payload).where(records.c.kind == "appeal")).all()
    for seq, text in rows:
        payload = json.loads(text)
        if forward and "error_report" in payload:
            payload["target_type"], payload["target"] = "error_report", payload.pop("error_report")
        elif not forward and payload.get("target_type") == "error_report":
            del payload["target_type"]
            payload["error_report"] = payload.pop("target")
        else:
            continue
        conn.execute(
            records.update()
            .where(records.c.seq == seq)
            .values(payload=json.dumps(payload, sort_keys=True, ensure_ascii=False))
        )


def upgrade() -> None:
    _rewrite(forward=True)


def downgrade() -> None:
    # Appeals of accountability records have no form before this revision; they stay as they are.
    _rewrite(forward=False)
