"""The bulletin's issue numbers (期号): one per (year, period), each number once a year.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletin_issues",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("issue", sa.Integer, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("year", "issue", name="uq_bulletin_issues_year_issue"),
    )


def downgrade() -> None:
    op.drop_table("bulletin_issues")
