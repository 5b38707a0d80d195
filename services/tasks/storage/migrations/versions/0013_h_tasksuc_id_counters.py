"""Id counters: the numbers of the ids the service makes (YQ2026-001), seeded from the rows already stored.

Revision ID: 0013_h_tasksuc
Revises: 0012
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0013_h_tasksuc"
down_revision = "0012"
branch_labels = None
depends_on = None

_EXTENSION_ID = re.compile(r"^(YQ\d{4})-")


def upgrade() -> None:
    counters = op.create_table(
        "tasks_id_counters",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("next", sa.BigInteger, nullable=False),
    )
    # A year's numbering goes on where counting its requests left it (as ids were made before).
    filed: dict[str, int] = {}
    for (ext_id,) in op.get_bind().execute(sa.text("SELECT id FROM extension_requests")):
        found = _EXTENSION_ID.match(ext_id)
        if found:
            filed[found.group(1)] = filed.get(found.group(1), 0) + 1
    if filed:
        op.bulk_insert(counters, [{"scope": scope, "next": n + 1} for scope, n in sorted(filed.items())])


def downgrade() -> None:
    op.drop_table("tasks_id_counters")
