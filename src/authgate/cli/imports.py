"""``authgate import``: bring accounts over from another system's own database.

``authgate import fastapi-users --database-url URL``: fastapi-users' user table
(:mod:`authgate.store.foreign`) mapped to authgate accounts: ``email`` is the
username and the e-mail address, ``is_verified`` → ``email_verified``, ``is_active``
false → disabled, ``is_superuser`` → the scope named by ``--superuser-scope``. The
hashes (pwdlib's Argon2id, or passlib's bcrypt from fastapi-users < 13) are kept and
upgraded at each user's next login. Otherwise as ``authgate users import``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors
from authgate.cli._records import Progress, Record
from authgate.cli.users_io import BatchOption, DryRunFlag, UpdateFlag, run_import
from authgate.service.users import parse_scope
from authgate.store.foreign import fastapi_users_rows

__all__ = ["app"]

app = App(help="Import accounts from another system's database: fastapi-users.")


async def _records(
    url: str, table: str, superuser_scope: str | None, progress: Progress
) -> AsyncIterator[Record]:
    number = 0
    async for row in fastapi_users_rows(url, table):
        number += 1
        record: dict[str, object] = {
            "username": row.email,
            "email": row.email,
            "email_verified": bool(row.is_verified),
            "disabled": not row.is_active,
            "scopes": [superuser_scope] if row.is_superuser and superuser_scope else [],
            "password_hash": row.hashed_password,
        }
        if row.is_superuser and not superuser_scope:
            yield number, f"id {row.id}: a superuser, and no --superuser-scope given"
            continue
        yield number, record


@app.command("fastapi-users")
def fastapi_users(
    database_url: Annotated[
        str,
        typer.Option("--database-url", metavar="URL", help="The fastapi-users database."),
    ],
    table: Annotated[
        str, typer.Option("--table", metavar="NAME", help="The user table's name.")
    ] = "user",
    superuser_scope: Annotated[
        str | None,
        typer.Option("--superuser-scope", metavar="SCOPE", help="The scope superusers get."),
    ] = None,
    update: UpdateFlag = False,
    dry_run: DryRunFlag = False,
    batch_size: BatchOption = 1000,
) -> None:
    """Import a fastapi-users SQLAlchemy user table (records are numbered by row, in id
    order, in the error lines)."""
    with cli_errors():
        if superuser_scope is not None:
            parse_scope([superuser_scope])  # InvalidScope: one line, before any row is read
        progress = Progress(None)
        run_import(
            _records(database_url, table, superuser_scope, progress),
            progress,
            update=update,
            dry_run=dry_run,
            batch_size=batch_size,
        )
