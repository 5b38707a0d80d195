"""Id counters: run and 容错 application ids from a counter row per scope, not count + 1.

Seeded from the rows already stored, so the next id is the one count + 1 would have given: per year,
"run:<year>" and "application:<year>" start after the number of that year's runs and applications.

Revision ID: 0009_h_scoringuc
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_h_scoringuc"
down_revision = "0008"
branch_labels = None
depends_on = None

runs = sa.table("runs", sa.column("id", sa.String), sa.column("year", sa.Integer))
applications = sa.table("applications", sa.column("id", sa.String), sa.column("year", sa.Integer))


def upgrade() -> None:
    counters = op.create_table(
        "scoring_id_counters",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("next", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    seeds = []
    for prefix, table in (("run", runs), ("application", applications)):
        counted = conn.execute(sa.select(table.c.year, sa.func.count()).group_by(table.c.year))
        seeds += [{"scope": f"{prefix}:{year}", "next": int(n) + 1} for year, n in counted]
    if seeds:
        op.bulk_insert(counters, seeds)


def downgrade() -> None:
    op.drop_table("scoring_id_counters")
