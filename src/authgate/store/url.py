"""Database URLs and engines: SQLite (aiosqlite) by default, PostgreSQL (asyncpg).

Users write ``sqlite:///path`` or ``postgresql://...``; both are normalised to the
async drivers. SQLite runs in WAL mode with foreign keys on and a busy timeout, and
every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue on the
busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_blocking_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from authgate.errors import ConfigError
from authgate.store.files import create_private_file

__all__ = [
    "READ_ONLY",
    "create_engine",
    "create_sqlite_thread_engine",
    "is_sqlite",
    "normalize_url",
    "sqlite_path",
]

#: Execution option: the transaction only reads (SQLite: a deferred ``BEGIN``).
READ_ONLY = "authgate_read_only"
_SQLITE_BUSY_TIMEOUT_MS = 10_000

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def normalize_url(url: str) -> URL:
    """Parse ``url`` and switch it to the async driver.

    Raises:
        ConfigError: not a URL, or a database other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError("the database URL cannot be parsed") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"unsupported database {parsed.drivername!r}: use sqlite:/// or postgresql://"
        )
    return parsed.set(drivername=driver)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL (None for in-memory databases)."""
    if not is_sqlite(url) or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def create_engine(url: URL) -> AsyncEngine:
    """An async engine for ``url`` (already normalised)."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=20, max_overflow=20)
    path = sqlite_path(url)
    if path is not None:
        # SECURITY.md A.7 #52: 0600 before SQLite opens it, so -wal/-shm follow.
        create_private_file(path)
    extra: dict[str, Any] = {}
    if path is None:  # in-memory: one shared connection, or each would see its own DB
        extra = {"poolclass": StaticPool}
    engine = create_async_engine(
        url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000}, **extra
    )
    _configure_sqlite(engine.sync_engine)
    return engine


def create_sqlite_thread_engine(url: URL) -> Engine | None:
    """For a SQLite file: a blocking engine (stdlib sqlite3) on which a whole hot-path
    transaction runs in one worker-thread hop, where aiosqlite takes three or four
    hops per statement. None for other databases and in-memory SQLite."""
    path = sqlite_path(url)
    if path is None:
        return None
    create_private_file(path)
    engine = create_blocking_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (the pysqlite driver's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
