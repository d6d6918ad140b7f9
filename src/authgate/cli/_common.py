"""Helpers shared by the CLI command modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError

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
