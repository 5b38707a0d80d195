"""The scoring half of an import, staged until the tasks half is committed (two-phase imports).

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
        "staged_imports",
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "staged_records",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("import_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("rid", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("kind", "rid", name="uq_staged_records_kind_rid"),
    )
    op.create_index("ix_staged_records_import", "staged_records", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_staged_records_import", "staged_records")
    op.drop_table("staged_records")
    op.drop_table("staged_imports")
