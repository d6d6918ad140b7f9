"""``authgate db``: database migrations.

The server applies migrations itself when it starts; ``authgate db upgrade`` lets an
operator do it ahead of a deploy (safe while instances run: PostgreSQL upgrades hold
an advisory lock).
"""

from __future__ import annotations

import asyncio

import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors, load_settings
from authgate.settings import Settings
from authgate.store import create_engine, current_revision, head_revision, normalize_url, upgrade
from authgate.store.migrate import is_known_revision

__all__ = ["app"]

app = App(help="Database migrations: upgrade, current.")


async def _upgrade(settings: Settings) -> tuple[str | None, str | None]:
    engine = create_engine(normalize_url(settings.resolved_database_url()))
    try:
        before = await upgrade(engine)
        return before, await current_revision(engine)
    finally:
        await engine.dispose()


async def _current(settings: Settings) -> str | None:
    engine = create_engine(normalize_url(settings.resolved_database_url()))
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


@app.command("upgrade")
def upgrade_command() -> None:
    """Create or migrate the database (AUTHGATE_DATABASE_URL, or the SQLite default)."""
    with cli_errors():
        before, after = asyncio.run(_upgrade(load_settings()))
        if before == after:
            typer.echo(f"database is up to date (revision {after})")
        else:
            typer.echo(f"database upgraded from {before or 'empty'} to {after}")


@app.command("current")
def current_command() -> None:
    """Show the database's revision and the newest one this version knows."""
    with cli_errors():
        current = asyncio.run(_current(load_settings()))
        head = head_revision()
        if current == head:
            state = "up to date"
        elif is_known_revision(current):
            state = "needs `authgate db upgrade`"
        else:
            state = "newer than this version of authgate knows"
        typer.echo(f"revision {current or 'none'} (head {head}): {state}")
