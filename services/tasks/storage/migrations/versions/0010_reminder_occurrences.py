"""Reminders per (task, event, unit, occurrence) and channel: 催办 until done, each missed deadline its own.

The (task, event, unit) keys announced once are kept as occurrence 1 of every channel ("*").

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_occurrences",
        sa.Column("task_id", sa.String(64), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("event", sa.String(16), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("occurrence", sa.Integer, primary_key=True),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
        sa.Column("deadline_at", sa.BigInteger, nullable=True),
    )
    op.execute(
        "INSERT INTO reminder_occurrences"
        " (task_id, event, unit_id, channel, occurrence, sent_at, deadline_at) "
        "SELECT task_id, event, unit_id, '*', 1, sent_at, NULL FROM reminders_sent"
    )
    op.drop_table("reminders_sent")


def downgrade() -> None:
    op.create_table(
        "reminders_sent",
        sa.Column("task_id", sa.String(64), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("event", sa.String(16), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO reminders_sent (task_id, event, unit_id, sent_at) "
        "SELECT task_id, event, unit_id, MIN(sent_at) FROM reminder_occurrences"
        " GROUP BY task_id, event, unit_id"
    )
    op.drop_table("reminder_occurrences")
