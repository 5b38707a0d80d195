"""延期: extension requests, and the new due instant an `extend` event carries.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The extend event's due_at (SCORING.md §2) is also added by 0007: added once, by whichever
    # of the two migrations runs first.
    if "due_at" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("task_events")}:
        op.add_column("task_events", sa.Column("due_at", sa.BigInteger, nullable=True))
    op.create_table(
        "extension_requests",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("asked_due", sa.BigInteger, nullable=False),
        sa.Column("due_before", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("filed_at", sa.BigInteger, nullable=False),
        sa.Column("filed_by", sa.String(256), nullable=False),
        sa.Column("filed_role", sa.String(32), nullable=False),
        sa.Column("filed_unit", sa.String(64), nullable=False),
        sa.Column("granted_due", sa.BigInteger, nullable=True),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=False, server_default=""),
        sa.Column("decided_role", sa.String(32), nullable=False, server_default=""),
        sa.Column("decided_unit", sa.String(64), nullable=False, server_default=""),
        sa.Column("decision_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("id", name="uq_extension_requests_id"),
    )
    op.create_index("ix_extension_requests_unit", "extension_requests", ["unit"])
    op.create_index("ix_extension_requests_task", "extension_requests", ["task_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_extension_requests_task", "extension_requests")
    op.drop_index("ix_extension_requests_unit", "extension_requests")
    op.drop_table("extension_requests")
