"""Reminders (催办): the (task, event, unit) keys already announced.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders_sent",
        sa.Column("task_id", sa.String(64), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("event", sa.String(16), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reminders_sent")
