"""``authgate users``: create, list, disable, set-scopes (through the auth service)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from authgate.cli import users_io
from authgate.cli._app import App
from authgate.cli._common import cli_errors, fail
from authgate.cli._service import with_service
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import User

__all__ = ["app"]

app = App(help="Users: create, list, disable, set-scopes, import, export.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            fail("no password on stdin")
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


@app.command("create")
def create(
    username: str,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", "-s", help="Allowed scope (repeatable).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (hidden) or read from stdin."""
    with cli_errors():
        password = _read_password(password_stdin)

        async def job(service: AuthServiceProtocol) -> User:
            return await service.register(username, password, email=email, scopes=scope)

        user = with_service(job)
        typer.echo(f"created {user.username} (id {user.id})")


_USER_COLUMNS = {
    "id": "ID",
    "username": "USERNAME",
    "scopes": "SCOPES",
    "state": "STATE",
    "created": "CREATED",
}


@app.command("list")
def list_users(as_json: JsonFlag = False) -> None:
    """List users: id, username, scopes, state, created."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[User]:
            return await service.list_users()

        rows = [
            {
                "id": u.id,
                "username": u.username,
                "email": u.email,
                "scopes": sorted(u.scopes),
                "state": "disabled" if u.disabled else "active",
                "created": when(u.created_at),
            }
            for u in with_service(job)
        ]
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo("no users", err=True)
        else:
            emit_table(_USER_COLUMNS, rows)


@app.command("disable")
def disable(username: str) -> None:
    """Disable a user: every session ends and every access token stops working."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            user = await service.get_user_by_username(username)
            await service.disable_user(user.id)

        with_service(job)
        typer.echo(f"disabled {username}")


@app.command("set-scopes")
def set_scopes(username: str, scopes: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Replace a user's allowed scopes (none given: no scopes). Removing a scope ends
    the user's sessions and tokens at once; adding one ends nothing."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> tuple[User, User]:
            user = await service.get_user_by_username(username)
            return user, await service.set_scopes(user.id, scopes or [])

        before, user = with_service(job)
        typer.echo(f"{user.username}: {' '.join(sorted(user.scopes)) or '(no scopes)'}")
        if removed := before.scopes - user.scopes:
            typer.echo(
                f"removed {' '.join(sorted(removed))}: "
                f"{user.username}'s sessions and tokens were ended"
            )


users_io.register(app)
