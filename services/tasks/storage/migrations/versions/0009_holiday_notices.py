"""The holiday notices imported, one per year (kaohe calendar import).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holiday_notices",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.BigInteger, nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holiday_notices")
