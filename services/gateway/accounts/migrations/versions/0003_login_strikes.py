"""Failed logins counted in the gateway's database, so that every gateway process sees the same throttle.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_strikes",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=False),
    )
    op.create_index("ix_login_strikes_last_failure", "login_strikes", ["last_failure"])


def downgrade() -> None:
    op.drop_table("login_strikes")
