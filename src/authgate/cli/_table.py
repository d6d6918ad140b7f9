"""How the listing commands (``users list``, ``sessions list``, ``keys list``, ``audit
list``) print rows.

- On a terminal: a table with a header row (rich, which typer already installs).
- Piped: the same header and rows as plain columns aligned with spaces, so ``cut``,
  ``awk`` and ``column`` work and nothing depends on the terminal width.
- ``--json``: one JSON object per row and line (JSON Lines), for machines.

A cell may hold text a client chose (a session's user agent, an audit detail): every
control character is shown as ``?`` and rich markup is never interpreted, so a row
cannot move the cursor or restyle the terminal of the operator reading it.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
import typer

__all__ = ["JsonFlag", "emit_json", "emit_table", "when"]

#: The ``--json`` flag every listing command takes.
JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

#: What an absent value (no IP, no expiry) shows as in a table.
NONE = "-"


def when(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC to the second (``2026-01-31T12:00:00Z``)."""
    if ts is None:
        return None
    stamp = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def _cell(value: object) -> str:
    if value is None:
        return NONE
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(str(v) for v in value) or NONE
    text = str(value)
    return "".join(c if c.isprintable() else "?" for c in text) or NONE


def emit_json(rows: Sequence[Mapping[str, Any]]) -> None:
    """One JSON object per line."""
    for row in rows:
        typer.echo(orjson.dumps(row).decode())


def emit_table(columns: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` under a header row: ``columns`` maps each row key to its header."""
    cells = [[_cell(row.get(key)) for key in columns] for row in rows]
    headers = list(columns.values())
    if sys.stdout.isatty():
        _rich_table(headers, cells)
        return
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    for line in [headers, *cells]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _rich_table(headers: list[str], cells: list[list[str]]) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers, box=SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for line in cells:
        table.add_row(*(Text(c) for c in line))  # Text: no markup read from the data
    Console(highlight=False).print(table)
