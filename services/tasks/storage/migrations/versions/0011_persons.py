"""People and levels: units.parent, the persons table, and a task's 责任人, 包保领导 and parent task.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns added in place: no table is rebuilt, on SQLite either.
    op.add_column("units", sa.Column("parent", sa.String(64), nullable=True))
    op.create_index("ix_units_parent", "units", ["parent"])
    for name in ("responsible", "leader", "parent"):
        op.add_column("tasks", sa.Column(name, sa.String(64), nullable=True))
    op.create_index("ix_tasks_parent", "tasks", ["parent"])
    op.create_index("ix_tasks_responsible", "tasks", ["responsible"])
    op.create_table(
        "persons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("post", sa.String(200), nullable=False),
        sa.Column("leader", sa.Boolean, nullable=False),
        sa.Column("mobile", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_persons_unit", "persons", ["unit_id"])


def downgrade() -> None:
    op.drop_index("ix_persons_unit", "persons")
    op.drop_table("persons")
    op.drop_index("ix_tasks_responsible", "tasks")
    op.drop_index("ix_tasks_parent", "tasks")
    op.drop_index("ix_units_parent", "units")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("parent")
        batch.drop_column("leader")
        batch.drop_column("responsible")
    with op.batch_alter_table("units") as batch:
        batch.drop_column("parent")
