"""What every ``authgate`` command has in common: its help layout and its error style.

- Help is click's plain layout. A valued option shows a metavar that says what to
  give (``--limit N``, ``--jwks FILE|URL``); a flag shows nothing after its name.
  typer's type labels (``<bool>``, ``<list[str]>``) never appear.
- Every failure, click's own usage errors included, is one line ``error: ...`` on
  stderr: no box, no usage block. A usage error (bad option, missing argument,
  unknown command) exits 2 as click does and names the ``--help`` to read; any
  other failure exits 1.
- Output into a closed pipe (``authgate users list | head -1``) ends the command
  quietly, as Unix tools do: no message, exit 1 (click's convention).

Every command module builds its group with :class:`App`, which gives each command
and group these classes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["App", "Command", "Group", "RootGroup", "usage_message"]

F = TypeVar("F", bound=Callable[..., Any])


# typer (0.26 and later) ships its own copy of click as a private module; only
# typer's public names are used here: TyperException, Abort, typer.core's classes.
# Contexts and help formatters are typed Any for that reason.


def _argument_label(param: TyperArgument) -> str:
    label = param.metavar or (param.name or "").upper()
    return label + "..." if param.nargs != 1 else label


def _option_label(param: TyperOption) -> str:
    names = ", ".join(sorted([*param.opts, *param.secondary_opts], key=lambda o: o[:2] == "--"))
    if param.is_flag or param.count:
        return names
    return f"{names} {param.metavar or (param.name or '').upper()}"


def _write_params(command: TyperCommand | TyperGroup, ctx: Any, out: Any) -> None:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if isinstance(param, TyperArgument):
            arguments.append((_argument_label(param), record[1]))
        elif isinstance(param, TyperOption):
            options.append((_option_label(param), record[1]))
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if rows:
            with out.section(title):
                out.write_dl(rows)


class Command(TyperCommand):
    """A typer command whose help shows metavars, never type labels."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                label = _argument_label(param)
                pieces.append(label if param.required else f"[{label}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_params(self, ctx, formatter)


class Group(TyperGroup):
    """A typer group whose help lists options like :class:`Command` does."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)


def usage_message(exc: typer.TyperException) -> str:
    """click's message as one line in the house style: ``no such option: --x (see
    'authgate users list --help')``."""
    # typer reports a bad choice through pydantic: "Value error, 'x' is not one of ..."
    message = " ".join(exc.format_message().replace("Value error, ", "").split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if exc.exit_code == _USAGE and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


_USAGE = 2  # click's exit code for a usage error


def _exit_with(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


class RootGroup(Group):
    """The ``authgate`` group: runs the command line and reports every failure in
    the one error style (module docstring)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            # Not standalone: click's errors come back here instead of being printed
            # in click's (or rich's) layout. A closed pipe is handled inside (exit 1).
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `authgate users`: its help
                typer.echo(exc.format_message(), err=True)
                sys.exit(exc.exit_code)
            _exit_with(usage_message(exc), exc.exit_code)
        except typer.Abort:  # Ctrl-D at a prompt
            _exit_with("aborted", 1)
        sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


class App(typer.Typer):
    """``typer.Typer`` with the classes above: plain help, one error style."""

    def __init__(self, *, help: str, root: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(
            cls=RootGroup if root else Group,
            help=help,
            rich_markup_mode=None,
            add_completion=False,
            pretty_exceptions_enable=False,
            **kwargs,
        )

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)
