"""Alembic migrations, shipped in the package: ``authgate db upgrade`` and the
service's start apply them (see :mod:`authgate.store.migrate`)."""
