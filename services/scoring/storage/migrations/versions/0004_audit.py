"""The append-only audit table of the scoring service: every change and every refusal.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from services.common.audit import append_only_ddl, drop_append_only_ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
TABLE = "scoring_audit"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index(f"ix_{TABLE}_at", TABLE, ["at"])
    for statement in append_only_ddl(TABLE, op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_ddl(TABLE, op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table(TABLE)
