"""Alembic environment of the gateway's accounts: runs on the connection the gateway hands it."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="alembic_version_gateway")
with context.begin_transaction():
    context.run_migrations()
