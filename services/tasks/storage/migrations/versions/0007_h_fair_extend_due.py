"""The new due instant an extend event (延期) carries (SCORING.md §2).

Revision ID: 0007_h_fair
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_h_fair"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task_events", sa.Column("due_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_events") as batch:
        batch.drop_column("due_at")
