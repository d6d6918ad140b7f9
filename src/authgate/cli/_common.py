"""Helpers shared by the CLI command modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError

from authgate._extras import SERVER_EXTRA_HINT, missing_server_packages
from authgate.errors import AuthError


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn authgate errors and bad input into one line on stderr and exit 1."""
    try:
        yield
    except AuthError as exc:
        fail(f"{exc.code}: {exc.message}")
    except ValidationError as exc:  # a ValueError too: Settings() refused a value
        first = exc.errors()[0]
        where = "AUTHGATE_" + "__".join(str(p) for p in first["loc"]).upper()
        fail(f"invalid setting {where}: {first['msg']}")
    except (OSError, ValueError) as exc:
        fail(str(exc) or type(exc).__name__)


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
