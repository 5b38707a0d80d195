"""On PostgreSQL, three indexes leave out the rows nobody looks up through them.

- ix_task_events_report without the create and assign rows: every task has one of each (a prefecture's
  import writes 2M of them beside 1M events of its own), and no query asks for those two kinds by kind —
  the history reads a task's events by task (ix_task_events_task). The queries by kind (reports, verifies,
  extensions) name their kind, which the planner proves to lie inside the index.
- ix_tasks_parent and ix_tasks_responsible without the tasks that have no parent or no 责任人 (nearly all of
  an imported year): the lookups by parent or by person name one, which proves it is not NULL (for the
  join by parent too).

Each row left out costs one index entry less to write. SQLite keeps the whole indexes (its planner uses a
partial one only when the query repeats its condition).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# (index, table, columns, the rows it keeps on PostgreSQL)
PARTIAL = (
    ("ix_task_events_report", "task_events", ["kind", "task_id"], "kind NOT IN ('create', 'assign')"),
    ("ix_tasks_parent", "tasks", ["parent"], "parent IS NOT NULL"),
    ("ix_tasks_responsible", "tasks", ["responsible"], "responsible IS NOT NULL"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, columns, rows in PARTIAL:
        op.drop_index(name, table)
        op.create_index(name, table, columns, postgresql_where=rows)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, columns, _ in PARTIAL:
        op.drop_index(name, table)
        op.create_index(name, table, columns)
