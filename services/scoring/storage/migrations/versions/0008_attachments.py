"""附件（佐证材料） on appeals and 容错 applications: the attachments table (the files live outside).

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
    op.create_table(
        "scoring_attachments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_scoring_attachments_item", "scoring_attachments", ["item_kind", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_scoring_attachments_item", "scoring_attachments")
    op.drop_table("scoring_attachments")
