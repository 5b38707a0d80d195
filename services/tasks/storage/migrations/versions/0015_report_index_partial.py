"""On PostgreSQL, the events-by-kind index leaves out the create and assign rows nobody looks up by kind.

Every task has one of each (a prefecture's import writes 2M of them beside 1M events of its own), and no
query asks for events of those two kinds by kind: the history reads a task's events by task
(ix_task_events_task). Left out, each costs one index entry less to write. The queries by kind (reports,
verifies, extensions) name their kind, which the planner proves to lie inside the index. SQLite keeps the
whole index (its planner uses a partial one only when the query repeats its condition).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NAME = "ix_task_events_report"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, "task_events")
    op.create_index(
        NAME, "task_events", ["kind", "task_id"], postgresql_where="kind NOT IN ('create', 'assign')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, "task_events")
    op.create_index(NAME, "task_events", ["kind", "task_id"])
