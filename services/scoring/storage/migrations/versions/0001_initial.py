"""The first schema of the scoring service.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schemes",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("rid", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("voided", sa.Boolean, nullable=False),
        sa.Column("void_reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("kind", "rid", name="uq_records_kind_rid"),
    )
    op.create_index("ix_records_kind_year", "records", ["kind", "year"])
    op.create_index("ix_records_unit", "records", ["unit"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("scheme_sha256", sa.String(64), nullable=False),
        sa.Column("scheme_id", sa.String(128), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("supersedes", sa.String(64), nullable=False),
        sa.Column("superseded_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("published_at", sa.BigInteger, nullable=True),
        sa.Column("finalized_at", sa.BigInteger, nullable=True),
        sa.Column("appeal_deadline", sa.BigInteger, nullable=True),
        sa.Column("duration_seconds", sa.Float, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_runs_year", "runs", ["year", "created_at"])
    # The table of requests done is scoring_requests, created by a later revision: a table named plain
    # "requests" here would collide with the other service's on a shared PostgreSQL database.
