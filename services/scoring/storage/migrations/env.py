"""Alembic environment of the scoring service: runs on the connection the service hands it."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="alembic_version_scoring")
with context.begin_transaction():
    context.run_migrations()
