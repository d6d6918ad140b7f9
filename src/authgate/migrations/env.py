"""Alembic environment. It only runs on a connection that authgate hands in
(``config.attributes["connection"]``), inside authgate's own transaction and lock."""

from __future__ import annotations

from alembic import context

from authgate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `authgate db upgrade`, not the alembic command")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
