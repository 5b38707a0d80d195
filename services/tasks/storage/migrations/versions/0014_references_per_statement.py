"""On PostgreSQL, the references of the import's three large tables checked once per statement, not per row.

A foreign key checks each inserted row with its own lookup (and a FOR KEY SHARE lock on the row it names):
a prefecture's import writes 1M tasks, 3M events and 150k co-units, and those checks were about half of its
database time. The same guarantee, in set form: after each INSERT statement on tasks, task_events and
task_co_units, one query over the statement's new rows (its transition table) looks for a unit or task they
name that does not exist, and refuses the statement as the foreign key would (SQLSTATE 23503). The other
half of a foreign key, that a referenced row cannot go, becomes: a task's or a unit's id never changes and
neither is ever deleted (nothing in the service deletes them; the database now refuses it too).

SQLite keeps its foreign keys (its triggers have no transition tables); the import is PostgreSQL's to be fast.

Revision ID: 0014
Revises: 0013_h_tasksuc
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013_h_tasksuc"
branch_labels = None
depends_on = None

# (table, column, referenced table) for each reference checked per statement.
REFERENCES = (
    ("tasks", "lead_unit", "units"),
    ("task_events", "task_id", "tasks"),
    ("task_co_units", "task_id", "tasks"),
    ("task_co_units", "unit_id", "units"),
)
# The rows others refer to: their ids are permanent.
REFERENCED = ("tasks", "units")


def _rows(column: str, target: str) -> str:
    """The new rows to look up: a few thousand units are named over and over, each task by a few rows in turn
    (the rows' own order keeps the index lookups near each other, cheaper than hashing them apart)."""
    return f"(SELECT DISTINCT {column} FROM kaohe_new_rows)" if target == "units" else "kaohe_new_rows"


def _check_function(table: str) -> str:
    """The statement trigger's function of table: each of its references looked up over the new rows."""
    checks = "\n".join(
        f"""  SELECT n.{column} INTO missing
    FROM {_rows(column, target)} n
    WHERE NOT EXISTS (SELECT FROM {target} r WHERE r.id = n.{column}) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = '{table}', COLUMN = '{column}',
      MESSAGE = format('insert on table "{table}" violates its reference: {column} %L is not in {target}',
                       missing);
  END IF;"""
        for name, column, target in REFERENCES
        if name == table
    )
    # work_mem for the DISTINCT over a large import's rows (the default 4 MB spills to disk).
    return f"""CREATE FUNCTION kaohe_{table}_references() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE missing text;
BEGIN
{checks}
  RETURN NULL;
END $$"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, column, _ in REFERENCES:
        found = bind.execute(
            sa.text(
                "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a"
                " ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
                " WHERE c.contype = 'f' AND c.conrelid = CAST(:table AS regclass) AND a.attname = :column"
            ),
            {"table": table, "column": column},
        ).scalars()
        for name in list(found):
            op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table in dict.fromkeys(t for t, _, _ in REFERENCES):
        op.execute(_check_function(table))
        op.execute(
            f"CREATE TRIGGER {table}_references AFTER INSERT ON {table}"
            " REFERENCING NEW TABLE AS kaohe_new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION kaohe_{table}_references()"
        )
    for table in REFERENCED:
        op.execute(
            f"""CREATE FUNCTION kaohe_{table}_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = '{table}',
    MESSAGE = format('{table}.id %L is permanent: it is neither deleted nor changed', OLD.id);
END $$"""
        )
        op.execute(
            f"CREATE TRIGGER {table}_kept BEFORE DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION kaohe_{table}_kept()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_id_kept BEFORE UPDATE OF id ON {table}"
            f" FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION kaohe_{table}_kept()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in REFERENCED:
        op.execute(f"DROP TRIGGER {table}_id_kept ON {table}")
        op.execute(f"DROP TRIGGER {table}_kept ON {table}")
        op.execute(f"DROP FUNCTION kaohe_{table}_kept()")
    for table in dict.fromkeys(t for t, _, _ in REFERENCES):
        op.execute(f"DROP TRIGGER {table}_references ON {table}")
        op.execute(f"DROP FUNCTION kaohe_{table}_references()")
    for table, column, target in REFERENCES:
        op.create_foreign_key(None, table, target, [column], ["id"])
