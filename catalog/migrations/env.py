"""Alembic environment: the connection comes from catalog.store, never from a config file."""
from alembic import context

from catalog.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
