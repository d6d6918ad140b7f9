"""Apply the Alembic migrations programmatically, safely when instances race.

On PostgreSQL the upgrade runs inside one transaction holding an advisory lock, so
two instances starting at once apply it once; on SQLite ``BEGIN IMMEDIATE`` takes
the database write lock for the same effect. A ``bootstrap`` step (creating the
first signing key) runs under the same lock.

A database already at a revision this version does not know (a newer authgate
upgraded it: docs/deploy.md, rolling back) is refused with one ``ConfigError``, before
Alembic is asked to upgrade from a revision it cannot find.
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

from authgate.errors import ConfigError
from authgate.store.errors import store_errors

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "is_known_revision",
    "upgrade",
]

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


def is_known_revision(revision: str | None) -> bool:
    """True for an empty database (None) and for every revision this version ships."""
    if revision is None:
        return True
    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == revision for rev in script.walk_revisions())


def newer_database_error(revision: str) -> ConfigError:
    return ConfigError(
        f"the database is at revision {revision}, which this version of authgate does not "
        f"know (its newest is {head_revision()}): a newer authgate upgraded it; run that "
        "version, or restore the backup taken before the upgrade"
    )


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
        ConfigError: the database is at a revision newer than this version knows.
    """
    with store_errors():
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            before = await conn.run_sync(_current)
            if not is_known_revision(before):
                assert before is not None
                raise newer_database_error(before)
            if before != head_revision():
                await conn.run_sync(_upgrade)
            if bootstrap is not None:
                await bootstrap(conn)
            return before
