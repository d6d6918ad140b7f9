"""``authgate sessions``: list and end a user's sessions."""

from __future__ import annotations

import typer

from authgate.cli._app import App
from authgate.cli._common import TAKES_AN_ID, cli_errors
from authgate.cli._service import with_service
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import SessionInfo

__all__ = ["app"]

app = App(help="A user's sessions: list, end.")


_SESSION_COLUMNS = {
    "id": "ID",
    "created": "CREATED",
    "last_used": "LAST USED",
    "ip": "IP",
    "user_agent": "USER AGENT",
}


@app.command("list")
def list_sessions(username: str, as_json: JsonFlag = False) -> None:
    """The user's active sessions, newest first."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[SessionInfo]:
            user = await service.get_user_by_username(username)
            return await service.list_sessions(user.id)

        rows = [
            {
                "id": s.id,
                "created": when(s.created_at),
                "last_used": when(s.last_used_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "scopes": sorted(s.scope),
            }
            for s in with_service(job)
        ]
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo("no active sessions", err=True)
        else:
            emit_table(_SESSION_COLUMNS, rows)


@app.command("end", context_settings=TAKES_AN_ID)
def end(username: str, session_id: str) -> None:
    """End one session: its refresh token and access tokens stop working."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            user = await service.get_user_by_username(username)
            await service.end_session(user.id, session_id)

        with_service(job)
        typer.echo(f"ended session {session_id}")
