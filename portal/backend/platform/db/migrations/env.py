"""Alembic environment: runs on the connection that portal.backend.platform.db.migrate hands over."""

from __future__ import annotations

from alembic import context

from portal.backend.platform.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table_schema=context.config.attributes.get("schema"),
)
with context.begin_transaction():
    context.run_migrations()
