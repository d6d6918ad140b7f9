"""``authgate token``: decode a token (unverified) or verify it against a JWK Set."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors, fail, read_file
from authgate.errors import JWKSError
from authgate.tokens import ACCESS_TOKEN_TYPE, KeyRing, TokenCodec, decode_unverified
from authgate.tokens.claims import MAX_LEEWAY

__all__ = ["app"]

app = App(help="Tokens: decode (unverified), verify against a JWK Set.")

TokenArg = Annotated[
    str, typer.Argument(metavar="TOKEN", help="The compact JWT, or - to read it from stdin.")
]


def _read_token(token: str) -> str:
    if token == "-":
        token = sys.stdin.read()
    return token.strip()


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True)


def _is_url(source: str) -> bool:
    return "://" in source


def load_jwks(source: str) -> KeyRing:
    """The key ring of a JWK Set file, or of a JWK Set URL fetched under the
    verifier's own rules (:func:`authgate.verifier.fetch_jwks`).

    Raises:
        OSError: the file cannot be read (the message names it and says why).
        ConfigError: the URL is refused (not https, nor http to loopback).
        JWKSError: not a JWK Set, or the fetch failed.
    """
    if _is_url(source):
        from authgate.verifier import fetch_jwks

        return KeyRing.verify_only(asyncio.run(fetch_jwks(source)))
    raw = read_file(Path(source))
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise JWKSError(f"{source} is not JSON: {exc}") from exc
    return KeyRing.from_jwks(document)


@app.command("decode")
def decode(token: TokenArg) -> None:
    """Show a token's header and claims WITHOUT checking anything."""
    with cli_errors():
        header, claims = decode_unverified(_read_token(token))
        typer.echo("UNVERIFIED: signature and claims were NOT checked", err=True)
        typer.echo(_dump({"UNVERIFIED": True, "header": header, "claims": claims}))


@app.command("verify")
def verify(
    token: TokenArg,
    jwks: Annotated[
        str,
        typer.Option(
            metavar="FILE|URL",
            help="The issuer's JWK Set: a JSON file, or an https:// URL "
            "(http:// only to loopback).",
        ),
    ],
    issuer: Annotated[str, typer.Option(metavar="URL", help="The exact iss to require.")],
    audience: Annotated[str, typer.Option(metavar="AUD", help="The aud this service must be in.")],
    typ: Annotated[
        str, typer.Option(metavar="TYP", help="The token kind (header typ).")
    ] = ACCESS_TOKEN_TYPE,
    leeway: Annotated[
        float, typer.Option(metavar="SECONDS", help="Clock skew, seconds (at most 60).")
    ] = 30.0,
) -> None:
    """Verify signature and claims; print the claims, or the reason code and exit 1."""
    with cli_errors():
        if not 0 <= leeway <= MAX_LEEWAY:
            fail(f"--leeway must be between 0 and {MAX_LEEWAY:g}")
        ring = load_jwks(jwks)
        codec = TokenCodec(ring, issuer=issuer, audience=audience, leeway=leeway)
        verified = codec.verify(_read_token(token), typ=typ)
        typer.echo(_dump(dict(verified.claims)))
