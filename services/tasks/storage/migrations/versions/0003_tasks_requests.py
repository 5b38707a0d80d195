"""Requests done move to a table of the service's own name, keyed by caller, method and request id.

The old table "requests" kept a request id cut to 128 characters, unscoped, without the request's
hash; its answers cannot be matched to the new keys and are dropped (a retry across this upgrade
runs again). A fresh database never had it: revision 0001 no longer creates it, so that the tasks
and scoring services can share one PostgreSQL database.

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
    # Only a database migrated before has "requests"; whichever service drops it, its answers go.
    if "requests" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("requests")
    op.create_table(
        "tasks_requests",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tasks_requests")
