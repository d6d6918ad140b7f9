"""``authgate clients``: create, list, rotate-secret, delete registered clients.

A secret is printed once, at ``create`` or ``rotate-secret``, and stored only as its
SHA-256 digest (SECURITY.md A.7 #55).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from authgate.cli._app import App
from authgate.cli._common import TAKES_AN_ID, cli_errors, read_file
from authgate.cli._service import with_service
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import RegisteredClient

__all__ = ["app"]

app = App(help="OAuth clients (services): create, list, rotate-secret, delete.")


def _secret_out(client: RegisteredClient, secret: str | None, as_json: bool) -> None:
    answer: dict[str, str] = {"client_id": client.client_id}
    if secret is not None:
        answer["client_secret"] = secret
    if as_json:
        typer.echo(orjson.dumps(answer).decode())
        return
    typer.echo(f"client {client.name}: client_id {client.client_id}")
    if secret is not None:
        typer.echo(f"client_secret {secret}  (shown once: store it now)")


@app.command("create")
def create(
    name: str,
    grant: Annotated[
        list[str],
        typer.Option("--grant", "-g", help="client_credentials or token-exchange (repeatable)."),
    ],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="An allowed scope (repeatable).")
    ],
    auth: Annotated[
        str,
        typer.Option("--auth", help="client_secret_basic, client_secret_post or private_key_jwt."),
    ] = "client_secret_basic",
    jwks_file: Annotated[
        Path | None, typer.Option("--jwks-file", help="The client's public JWK Set.")
    ] = None,
    jwks_uri: Annotated[
        str | None, typer.Option("--jwks-uri", help="The URL of the client's public JWK Set.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"client_id", "client_secret"} as JSON.')
    ] = False,
) -> None:
    """Register a client; its secret (if any) is printed once."""
    with cli_errors():
        jwks = read_file(jwks_file).decode("utf-8") if jwks_file is not None else None

        async def job(service: AuthServiceProtocol) -> tuple[RegisteredClient, str | None]:
            return await service.registry.create_client(
                name, grants=grant, scopes=scope, auth_method=auth, jwks=jwks, jwks_uri=jwks_uri
            )

        client, secret = with_service(job)
        _secret_out(client, secret, as_json)


@app.command("list")
def list_clients(as_json: JsonFlag = False) -> None:
    """List clients: name, client_id, grants, scopes, auth method, created."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[RegisteredClient]:
            return await service.registry.list_clients()

        rows = [
            {
                "name": c.name,
                "client_id": c.client_id,
                "grants": sorted(c.grants),
                "scopes": sorted(c.scopes),
                "auth": c.auth_method,
                "jwks_uri": c.jwks_uri,
                "created": when(c.created_at),
            }
            for c in with_service(job)
        ]
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo("no clients", err=True)
        else:
            emit_table(
                {
                    "name": "NAME",
                    "client_id": "CLIENT_ID",
                    "grants": "GRANTS",
                    "scopes": "SCOPES",
                    "auth": "AUTH",
                    "created": "CREATED",
                },
                rows,
            )


@app.command("rotate-secret", context_settings=TAKES_AN_ID)
def rotate_secret(name: str, as_json: JsonFlag = False) -> None:
    """Replace a client's secret (by name or client_id); the old one stops at once."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> tuple[RegisteredClient, str]:
            return await service.registry.rotate_secret(name)

        client, secret = with_service(job)
        _secret_out(client, secret, as_json)


@app.command("delete", context_settings=TAKES_AN_ID)
def delete(name: str) -> None:
    """Delete a client (by name or client_id): it can no longer authenticate."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            await service.registry.delete_client(name)

        with_service(job)
        typer.echo(f"deleted client {name}")
