"""The record of decision of two-service imports (committed or aborted, by import id).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_decisions",
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_decisions")
