"""``authgate keys``: generate a signing key, publish the JWK Set of key files (jwks).

``list`` and ``rotate`` (the running server's keys) come from
:mod:`authgate.cli.keys_admin` when the service layer is installed.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli._app import App
from authgate.cli._common import add_server_placeholder, cli_errors, fail, is_missing_extra
from authgate.errors import UnsafeKey
from authgate.tokens import SUPPORTED_ALGORITHMS, KeyRing, generate_key, load_jwk, load_pem
from authgate.tokens.keys import Key

__all__ = ["app", "load_key_file", "write_private"]

app = App(
    help="Signing keys: generate, jwks (publish key files); the server's: list, rotate, retire."
)


class KeyFormat(StrEnum):
    pem = "pem"
    jwk = "jwk"


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data``; never overwrite a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # regardless of the umask
        os.write(fd, data)
    finally:
        os.close(fd)


def load_key_file(path: Path) -> list[Key]:
    """The keys in a PEM file, a JWK file or a JWK Set file.

    Raises:
        UnsafeKey: not a usable key.
        OSError: the file cannot be read.
    """
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):
        document: Any = json.loads(raw)
        if isinstance(document, dict) and "keys" in document:
            return [managed.key for managed in KeyRing.from_jwks(document).entries()]
        return [load_jwk(document)]
    if b"-----BEGIN" not in raw:
        raise UnsafeKey(f"{path}: neither a PEM key nor a JWK")
    return [load_pem(raw)]


@app.command("generate")
def generate(
    alg: Annotated[str, typer.Option(help=f"One of {', '.join(SUPPORTED_ALGORITHMS)}.")] = "EdDSA",
    fmt: Annotated[
        KeyFormat, typer.Option("--format", metavar="pem|jwk", help="PEM (asymmetric keys) or JWK.")
    ] = KeyFormat.pem,
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write here (mode 0600, never overwritten), not stdout."),
    ] = None,
) -> None:
    """Generate a private signing key from the OS CSPRNG."""
    with cli_errors():
        if alg not in SUPPORTED_ALGORITHMS:
            fail(f"unsupported algorithm {alg!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")
        key = generate_key(alg)
        if fmt is KeyFormat.pem:
            if key.symmetric:
                fail(f"{alg} keys are secrets with no PEM form; use --format jwk")
            data = key.private_pem()
        else:
            data = json.dumps(key.private_jwk(), indent=2).encode() + b"\n"
        if out is None:
            typer.echo(data.decode(), nl=False)
            return
        try:
            write_private(out, data)
        except FileExistsError:
            fail(f"{out} already exists; not overwriting a key")
        typer.echo(f"wrote {alg} key {key.kid} to {out} (mode 0600)")


@app.command("jwks")
def jwks(
    keyfiles: Annotated[
        list[Path], typer.Argument(metavar="KEYFILE", help="PEM or JWK files, private or public.")
    ],
) -> None:
    """Print the public JWK Set (RFC 7517 §5) of these keys: no private member, ever."""
    with cli_errors():
        keys: list[Key] = []
        for path in keyfiles:
            keys.extend(load_key_file(path))
        if any(key.symmetric for key in keys):
            fail("HMAC keys are secrets and have no public JWK; publish asymmetric keys only")
        ring = KeyRing.verify_only(keys)  # refuses duplicate kids
        typer.echo(json.dumps(ring.jwks(), indent=2))


#: The commands of :mod:`authgate.cli.keys_admin`, which need the server extra.
ADMIN_COMMANDS = ("list", "rotate", "retire")


def _register_admin() -> None:
    try:
        from authgate.cli.keys_admin import register_keys_admin
    except ModuleNotFoundError as exc:  # the service layer is optional for these commands
        if not is_missing_extra(exc):
            raise
        for name in ADMIN_COMMANDS:
            add_server_placeholder(app, name, str(exc))
        return
    register_keys_admin(app)


_register_admin()
