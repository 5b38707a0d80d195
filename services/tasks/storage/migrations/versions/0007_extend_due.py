"""The new due instant an extend event (延期) carries (SCORING.md §2); each task's latest verify (核查).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task_events", sa.Column("due_at", sa.BigInteger, nullable=True))
    op.add_column("tasks", sa.Column("verified_at", sa.BigInteger, nullable=True))
    op.execute(
        "UPDATE tasks SET verified_at = (SELECT max(e.at) FROM task_events e "
        "WHERE e.task_id = tasks.id AND e.kind = 'verify')"
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("verified_at")
    with op.batch_alter_table("task_events") as batch:
        batch.drop_column("due_at")
