"""A run's timeliness lines in their own table as binary parts, no longer base64 text in its document.

Runs stored before keep their lines in the document (format v1) and read back as they did; runs stored
from now on keep a header in the document and the lines here (format v2, services/scoring/task_lines.py).

Revision ID: 0010_run_lines
Revises: 0009_h_scoringuc
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_run_lines"
down_revision = "0009_h_scoringuc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_lines",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("first_unit", sa.Integer, primary_key=True),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("arrays", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    # The runs stored since keep their lines only here: going back would lose their breakdowns.
    if op.get_bind().execute(sa.text("SELECT 1 FROM run_lines LIMIT 1")).first() is not None:
        raise RuntimeError("run_lines 中有考核运行的任务明细：降级会丢失这些明细，已拒绝")
    op.drop_table("run_lines")
