"""Apply the Alembic migrations programmatically, safely when instances race.

On PostgreSQL the upgrade runs inside one transaction holding an advisory lock, so
two instances starting at once apply it once; on SQLite ``BEGIN IMMEDIATE`` takes
the database write lock for the same effect. A ``bootstrap`` step (creating the
first signing key) runs under the same lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.store.errors import store_errors

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: pg_advisory_xact_lock key: "authgate" as an int64.
_LOCK_KEY = int.from_bytes(b"authgate", "big") & 0x7FFF_FFFF_FFFF_FFFF

Bootstrap = Callable[[AsyncConnection], Awaitable[Any]]


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    with store_errors():
        async with engine.connect() as conn:
            return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, bootstrap: Bootstrap | None = None) -> str | None:
    """Upgrade to head (a no-op when already there), then run ``bootstrap``.

    Returns the revision the database was at before.

    Raises:
        StoreUnavailable: the database cannot be reached or migrated.
    """
    with store_errors():
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            before = await conn.run_sync(_current)
            if before != head_revision():
                await conn.run_sync(_upgrade)
            if bootstrap is not None:
                await bootstrap(conn)
            return before
