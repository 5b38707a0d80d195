"""Accounts whose password must change at first login, and a token generation that ends old sessions.

Revision ID: 0005_h_secure
Revises: 0004_h_remind
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_h_secure"
down_revision = "0004_h_remind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("token_generation")
        batch.drop_column("must_change_password")
