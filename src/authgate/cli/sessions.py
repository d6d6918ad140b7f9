"""``authgate sessions``: list and end a user's sessions."""

from __future__ import annotations

import datetime as dt

import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors
from authgate.cli._service import with_service
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import SessionInfo

__all__ = ["app"]

app = App(help="A user's sessions: list, end.")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command("list")
def list_sessions(username: str) -> None:
    """The user's active sessions, newest first."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[SessionInfo]:
            user = await service.get_user_by_username(username)
            return await service.list_sessions(user.id)

        found = with_service(job)
        if not found:
            typer.echo("no active sessions")
        for s in found:
            typer.echo(
                f"{s.id}  created {_when(s.created_at)}  last used {_when(s.last_used_at)}  "
                f"{s.ip or '-'}  {s.user_agent or '-'}"
            )


@app.command("end")
def end(username: str, session_id: str) -> None:
    """End one session: its refresh token and access tokens stop working."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            user = await service.get_user_by_username(username)
            await service.end_session(user.id, session_id)

        with_service(job)
        typer.echo(f"ended session {session_id}")
