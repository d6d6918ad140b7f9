"""``authgate token``: decode a token (unverified) or verify it against a JWK Set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli._common import cli_errors, fail
from authgate.errors import JWKSError, MalformedToken, UnsupportedToken
from authgate.tokens import ACCESS_TOKEN_TYPE, KeyRing, TokenCodec
from authgate.tokens._encoding import b64url_decode, loads_object
from authgate.tokens.claims import MAX_LEEWAY

__all__ = ["app"]

app = typer.Typer(help="Inspect and verify tokens.", no_args_is_help=True)

TokenArg = Annotated[str, typer.Argument(help="The compact JWT, or - to read it from stdin.")]


def _read_token(token: str) -> str:
    if token == "-":
        token = sys.stdin.read()
    return token.strip()


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True)


@app.command("decode")
def decode(token: TokenArg) -> None:
    """Show a token's header and claims WITHOUT checking anything."""
    with cli_errors():
        raw = _read_token(token).encode("ascii", errors="replace")
        if raw.startswith(b"{"):
            raise UnsupportedToken("JSON serialization; only compact JWS is supported")
        parts = raw.split(b".")
        if len(parts) == 5:
            raise UnsupportedToken("this is a JWE (5 segments); only JWS is supported")
        if len(parts) != 3:
            raise MalformedToken("a compact JWS has exactly three segments")
        header = loads_object(b64url_decode(parts[0]))
        claims = loads_object(b64url_decode(parts[1]))
        typer.echo("UNVERIFIED: signature and claims were NOT checked", err=True)
        typer.echo(_dump({"UNVERIFIED": True, "header": header, "claims": claims}))


@app.command("verify")
def verify(
    token: TokenArg,
    jwks: Annotated[Path, typer.Option(help="The issuer's JWK Set (JSON file).")],
    issuer: Annotated[str, typer.Option(help="The exact iss to require.")],
    audience: Annotated[str, typer.Option(help="The aud this service must be in.")],
    typ: Annotated[str, typer.Option(help="The token kind (header typ).")] = ACCESS_TOKEN_TYPE,
    leeway: Annotated[float, typer.Option(help="Clock skew, seconds (at most 60).")] = 30.0,
) -> None:
    """Verify signature and claims; print the claims, or the reason code and exit 1."""
    with cli_errors():
        if not 0 <= leeway <= MAX_LEEWAY:
            fail(f"--leeway must be between 0 and {MAX_LEEWAY:g}")
        try:
            document = json.loads(jwks.read_bytes())
        except ValueError as exc:
            raise JWKSError(f"{jwks} is not JSON: {exc}") from exc
        ring = KeyRing.from_jwks(document)
        codec = TokenCodec(ring, issuer=issuer, audience=audience, leeway=leeway)
        verified = codec.verify(_read_token(token), typ=typ)
        typer.echo(_dump(dict(verified.claims)))
