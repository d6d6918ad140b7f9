"""``authgate keys list`` and ``authgate keys rotate``: the server's signing keys
(through the auth service). Registered on the ``keys`` group by
:func:`register_keys_admin`."""

from __future__ import annotations

import datetime as dt

import typer

from authgate.cli._common import cli_errors
from authgate.cli._service import with_service
from authgate.service.protocol import AuthServiceProtocol

__all__ = ["register_keys_admin"]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def list_keys() -> None:
    """The server's keys: kid, algorithm, state (active, next, retiring) and retirement."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[tuple[str, str, str, float | None]]:
            return [
                (m.key.kid, m.key.alg, str(m.state), m.retire_at) for m in service.keyring.entries()
            ]

        for kid, alg, state, retire_at in with_service(job):
            retire = f"  retires {_when(retire_at)}" if retire_at is not None else ""
            typer.echo(f"{kid}  {alg}  {state}{retire}")


def rotate() -> None:
    """Publish a next key, promote it, retire expired keys (SECURITY.md #43)."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> str:
            return await service.rotate_keys()

        kid = with_service(job)
        typer.echo(f"rotated: new active key {kid}")


def register_keys_admin(keys_app: typer.Typer) -> None:
    """Add ``list`` and ``rotate`` to the ``keys`` group."""
    keys_app.command("list")(list_keys)
    keys_app.command("rotate")(rotate)
