"""``authgate apis``: create, list, delete registered APIs (resource servers)."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors
from authgate.cli._service import with_service
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import Api

__all__ = ["app"]

app = App(help="APIs (resource servers): create, list, delete.")


@app.command("create")
def create(
    name: str,
    audience: Annotated[str, typer.Option(help="The API's audience URI (tokens' aud).")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="A scope the API defines (repeatable).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Register an API: tokens minted for it carry its audience and its scopes only."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> Api:
            return await service.registry.create_api(name, audience, scope)

        api = with_service(job)
        if as_json:
            emit_json([_row(api)])
        else:
            typer.echo(f"created API {api.name} ({api.audience})")


def _row(api: Api) -> dict[str, object]:
    return {
        "name": api.name,
        "audience": api.audience,
        "scopes": sorted(api.scopes),
        "created": when(api.created_at),
    }


@app.command("list")
def list_apis(as_json: JsonFlag = False) -> None:
    """List APIs: name, audience, scopes, created."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[Api]:
            return await service.registry.list_apis()

        rows = [_row(api) for api in with_service(job)]
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo("no APIs", err=True)
        else:
            emit_table(
                {"name": "NAME", "audience": "AUDIENCE", "scopes": "SCOPES", "created": "CREATED"},
                rows,
            )


@app.command("delete")
def delete(name: str) -> None:
    """Delete an API (tokens already minted for it run out at their expiry)."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            await service.registry.delete_api(name)

        with_service(job)
        typer.echo(f"deleted API {name}")
