"""容错 applications and the timeline of appeals and applications.

An appeal's decision reason was kept in its ledger fields (decision_reason); it moves to the timeline,
so that the appeal's fields are the ledger's (FORMATS.md) and importing the decided line again finds
it unchanged.

Revision ID: 0007
Revises: 0006
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

records = sa.table(
    "records",
    sa.column("seq", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("rid", sa.String),
    sa.column("payload", sa.Text),
    sa.column("updated_at", sa.BigInteger),
)


def upgrade() -> None:
    _create_applications()
    events = _create_workflow_events()
    _move_decision_reasons(events)


def _create_applications() -> None:
    op.create_table(
        "applications",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("filed_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("id", name="uq_applications_id"),
    )
    op.create_index("ix_applications_year_state", "applications", ["year", "state"])
    op.create_index("ix_applications_unit", "applications", ["unit"])


def _create_workflow_events() -> sa.Table:
    events = op.create_table(
        "workflow_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("actor_unit", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_workflow_events_subject", "workflow_events", ["subject_kind", "subject_id"])
    return events


def _move_decision_reasons(events: sa.Table) -> None:
    """Each decided appeal's decision_reason moves from its ledger fields to a "decided" timeline event."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(records.c.seq, records.c.rid, records.c.payload, records.c.updated_at).where(
            records.c.kind == "appeal"
        )
    ).all()
    for seq, rid, text, updated_at in rows:
        payload = json.loads(text)
        if "decision_reason" not in payload:
            continue
        reason = str(payload.pop("decision_reason"))
        upheld = payload.get("upheld")
        conn.execute(
            events.insert().values(
                subject_kind="appeal",
                subject_id=rid,
                event="decided",
                outcome="" if upheld is None else ("upheld" if upheld else "rejected"),
                reason=reason,
                actor="",
                actor_role="office",
                actor_unit="",
                at=updated_at,
            )
        )
        conn.execute(
            records.update()
            .where(records.c.seq == seq)
            .values(payload=json.dumps(payload, sort_keys=True, ensure_ascii=False))
        )


def downgrade() -> None:
    op.drop_index("ix_workflow_events_subject", "workflow_events")
    op.drop_table("workflow_events")
    op.drop_index("ix_applications_unit", "applications")
    op.drop_index("ix_applications_year_state", "applications")
    op.drop_table("applications")
