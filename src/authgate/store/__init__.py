"""Storage: SQLAlchemy (SQLite by default, PostgreSQL for several instances), the
Alembic migrations, signing keys sealed at rest, and Redis fan-out.

No driver exception leaves this package: failures become ``StoreUnavailable``.
"""

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.store.errors import store_errors
from authgate.store.migrate import current_revision, head_revision, upgrade
from authgate.store.url import create_engine, normalize_url

__all__ = [
    "create_engine",
    "current_revision",
    "head_revision",
    "normalize_url",
    "store_errors",
    "upgrade",
]
