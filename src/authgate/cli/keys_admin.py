"""``authgate keys list``, ``rotate`` and ``retire``: the server's signing keys
(through the auth service). Registered on the ``keys`` group by
:func:`register_keys_admin`.

SECURITY.md A.7 #49: ``rotate`` publishes a next key that the server promotes once it
has been in the JWK Set for the max-age (``--now``: at once); ``retire KID --now`` is
the emergency after a leak: the key's tokens are refused at once by every instance."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.cli._common import TAKES_AN_ID, cli_errors
from authgate.cli._service import with_service
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.service.keystore import PROPAGATION
from authgate.service.protocol import AuthServiceProtocol
from authgate.tokens import KeyState, ManagedKey

__all__ = ["register_keys_admin"]


_KEY_COLUMNS = {
    "kid": "KID",
    "alg": "ALG",
    "state": "STATE",
    "signs_from": "SIGNS FROM",
    "retires": "RETIRES",
}


def _promotion(service: AuthServiceProtocol, managed: ManagedKey) -> float | None:
    """When the server promotes a published next key (SECURITY.md A.7 #49)."""
    if managed.state is not KeyState.NEXT or managed.published_at is None:
        return None
    return managed.published_at + service.settings.jwks_max_age + PROPAGATION


def list_keys(as_json: JsonFlag = False) -> None:
    """The server's keys: kid, algorithm, state (active, next, retiring), when a next
    key is promoted and when a retiring key stops verifying."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> list[dict[str, str | None]]:
            return [
                {
                    "kid": m.key.kid,
                    "alg": m.key.alg,
                    "state": str(m.state),
                    "signs_from": when(_promotion(service, m)),
                    "retires": when(m.retire_at),
                }
                for m in service.keyring.entries()
            ]

        rows = with_service(job)
        if as_json:
            emit_json(rows)
        else:
            emit_table(_KEY_COLUMNS, rows)


def rotate(
    now: Annotated[
        bool, typer.Option("--now", help="Promote at once, before verifiers saw the key.")
    ] = False,
) -> None:
    """Publish a next key; the server promotes it once it has been in the JWK Set for
    the max-age (SECURITY.md A.7 #49)."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> tuple[str, str, float | None]:
            kid = await service.rotate_keys(now=now)
            managed = next(m for m in service.keyring.entries() if m.key.kid == kid)
            return kid, str(managed.state), _promotion(service, managed)

        kid, state, due = with_service(job)
        if state == KeyState.ACTIVE:
            typer.echo(f"rotated: new active key {kid}")
        else:
            typer.echo(f"published next key {kid}; the server promotes it after {when(due)}")


def retire(
    kid: Annotated[str, typer.Argument(help="The key id (see `authgate keys list`).")],
    now: Annotated[
        bool,
        typer.Option("--now", help="Refuse its tokens at once (after a leak)."),
    ] = False,
) -> None:
    """Stop verifying with a key: when the tokens it signed expire, or --now."""
    with cli_errors():

        async def job(service: AuthServiceProtocol) -> None:
            await service.retire_key(kid, now=now)

        with_service(job)
        if now:
            typer.echo(f"retired {kid}: its tokens are refused now")
        else:
            typer.echo(f"{kid} retires when the tokens it signed have expired")


def register_keys_admin(keys_app: typer.Typer) -> None:
    """Add ``list``, ``rotate`` and ``retire`` to the ``keys`` group."""
    keys_app.command("list")(list_keys)
    keys_app.command("rotate")(rotate)
    keys_app.command("retire", context_settings=TAKES_AN_ID)(retire)
