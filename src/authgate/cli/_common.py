"""Helpers shared by the CLI command modules: the one-line error, reading a file the
user named, the settings."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError

from authgate._extras import SERVER_EXTRA_HINT, missing_server_packages
from authgate.errors import AuthError
from authgate.settings import Settings

__all__ = [
    "TAKES_AN_ID",
    "add_server_placeholder",
    "cli_errors",
    "fail",
    "is_missing_extra",
    "load_settings",
    "os_error_message",
    "read_file",
]

_REASONS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def os_error_message(exc: OSError) -> str:
    """``jwks.json: no such file``, not ``[Errno 2] No such file ...: 'jwks.json'``."""
    if exc.errno is None:  # raised with a message of ours (read_file)
        return str(exc)
    reason = _REASONS.get(exc.errno) or (exc.strerror or type(exc).__name__).lower()
    return reason if exc.filename is None else f"{exc.filename}: {reason}"


def read_file(path: Path) -> bytes:
    """The bytes of a file the user named.

    Raises:
        OSError: with a message that names the file and says why (``cannot read
            jwks.json: no such file``); :func:`cli_errors` prints it as is.
    """
    try:
        return path.read_bytes()
    except OSError as exc:
        exc.filename = None
        raise OSError(f"cannot read {path}: {os_error_message(exc)}") from None


def _setting_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = "AUTHGATE_" + "__".join(str(p) for p in first["loc"]).upper()
    return f"invalid setting {where}: {first['msg']}"


#: The settings of a command whose argument is an id (a kid, a session id, a
#: client_id): base64url, so one in 64 starts with "-", which must be taken as the
#: argument, not refused as an unknown option.
TAKES_AN_ID: dict[str, object] = {"ignore_unknown_options": True}


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn authgate errors and bad input into one line on stderr and exit 1.

    A closed pipe (``| head -1``) is not an error to report: it propagates, and
    the command ends quietly (:mod:`authgate.cli._app`).
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except AuthError as exc:
        fail(f"{exc.code}: {exc.message}")
    except ValidationError as exc:  # a ValueError too: Settings() refused a value
        fail(_setting_error(exc))
    except OSError as exc:
        fail(os_error_message(exc))
    except ValueError as exc:
        fail(str(exc) or type(exc).__name__)


def load_settings() -> Settings:
    """Settings from ``AUTHGATE_*`` and ``.env``; a bad value is one line, not a dump."""
    with cli_errors():
        return Settings()


def add_server_placeholder(app: typer.Typer, name: str, reason: str) -> None:
    """Register ``name`` as a command that only says what to install: without the
    server extra, ``authgate serve`` (or ``users list``) still answers with one line
    and exit 1, not with "No such command"."""

    def placeholder(ctx: typer.Context) -> None:
        fail(f"authgate {ctx.command_path.split(' ', 1)[-1]}: {reason}")

    app.command(
        name,
        help=f"(needs the auth server: {SERVER_EXTRA_HINT})",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(placeholder)


def is_missing_extra(exc: ModuleNotFoundError) -> bool:
    """True when ``exc`` comes from a package of the server extra not installed."""
    return exc.name is not None and exc.name in missing_server_packages()
