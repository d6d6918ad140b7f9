"""The ``authgate`` command line. Each command group lives in its own module.

Every command turns an :class:`~authgate.errors.AuthError` (or bad input) into a
one-line message on stderr and a non-zero exit code, never a traceback; click's own
usage errors take the same form (:mod:`authgate.cli._app`).
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from authgate.cli._app import App
from authgate.cli._common import add_server_placeholder, is_missing_extra

__all__ = ["app", "main"]

app = App(name="authgate", help="Secure, fast JWT authentication for FastAPI.", root=True)


def _show_version(value: bool) -> None:
    if value:
        from authgate._version import version

        typer.echo(f"authgate {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version and exit.",
            callback=_show_version,
            is_eager=True,
            expose_value=False,
        ),
    ] = False,
) -> None:
    """Secure, fast JWT authentication for FastAPI."""


# (module, attribute, group name). The groups after ``token`` need the server extra;
# without it each name answers with the install line (see add_server_placeholder).
_GROUPS = [
    ("authgate.cli.keys", "app", "keys"),
    ("authgate.cli.token", "app", "token"),
    ("authgate.cli.users", "app", "users"),
    ("authgate.cli.sessions", "app", "sessions"),
    ("authgate.cli.apis", "app", "apis"),
    ("authgate.cli.clients", "app", "clients"),
    ("authgate.cli.db", "app", "db"),
    ("authgate.cli.audit", "app", "audit"),
    ("authgate.cli.imports", "app", "import"),
]
# (module, function registering its commands, the commands' names)
_COMMANDS = [
    ("authgate.cli.serve", "register", ("serve", "check")),
]


def _load() -> None:
    for module, attr, name in _GROUPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not is_missing_extra(exc):
                raise
            add_server_placeholder(app, name, str(exc))
            continue
        app.add_typer(getattr(mod, attr), name=name)
    for module, attr, names in _COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not is_missing_extra(exc):
                raise
            for command in names:
                add_server_placeholder(app, command, str(exc))
            continue
        getattr(mod, attr)(app)


_load()


def main() -> None:
    app(prog_name="authgate")  # also when run as `python -c` or `python -m`
