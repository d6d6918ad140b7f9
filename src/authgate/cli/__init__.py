"""The ``authgate`` command line. Each command group lives in its own module.

Every command turns an :class:`~authgate.errors.AuthError` (or bad input) into a
one-line message on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="authgate",
    help="Secure, fast JWT authentication for FastAPI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, group name); a group module that is not there yet is skipped.
_GROUPS = [
    ("authgate.cli.keys", "app", "keys"),
    ("authgate.cli.token", "app", "token"),
    ("authgate.cli.users", "app", "users"),
    ("authgate.cli.sessions", "app", "sessions"),
    ("authgate.cli.db", "app", "db"),
    ("authgate.cli.audit", "app", "audit"),
]
_COMMANDS = [
    ("authgate.cli.serve", "register"),
]


def _load() -> None:
    for module, attr, name in _GROUPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        app.add_typer(getattr(mod, attr), name=name)
    for module, attr in _COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        getattr(mod, attr)(app)


_load()


def main() -> None:
    app()
