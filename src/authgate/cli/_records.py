"""Reading an import file as a stream of records, in batches, and showing progress.

Never the whole file in memory: lines are read one at a time and handed on in
batches of ``batch_size``. A record that cannot be read (bad JSON, not an object,
a CSV row longer than its header) becomes its reason, reported with its line number
like any refused record.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import IO

import typer

__all__ = ["Progress", "Record", "batches", "read_csv", "read_jsonl"]

#: (first line of the record, the record or why it could not be read)
Record = tuple[int, Mapping[str, object] | str]


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_jsonl(stream: IO[bytes], progress: Progress) -> Iterator[Record]:
    for number, raw in enumerate(stream, start=1):
        progress.advance_bytes(len(raw))
        if not raw.strip():
            continue
        try:
            record = json.loads(raw, parse_constant=_no_constant)
        except UnicodeDecodeError:
            yield number, "not UTF-8"
            continue
        except ValueError:
            yield number, "not valid JSON"
            continue
        if not isinstance(record, dict):
            yield number, "not a JSON object"
            continue
        yield number, record


def _decoded(stream: IO[bytes], progress: Progress) -> Iterator[str]:
    for raw in stream:
        progress.advance_bytes(len(raw))
        yield raw.decode("utf-8", errors="replace")


def read_csv(stream: IO[bytes], progress: Progress) -> Iterator[Record]:
    """A header line, then one account per row; ``scopes`` space-separated, an
    empty cell is "not given"."""
    reader = csv.reader(_decoded(stream, progress))
    header = next(reader, None)
    if header is None:
        return
    start = reader.line_num + 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not row:
            continue
        if len(row) != len(header):
            yield line, f"{len(row)} fields, the header has {len(header)}"
            continue
        if any("\ufffd" in cell for cell in row):
            yield line, "not UTF-8"
            continue
        yield line, {k: v for k, v in zip(header, row, strict=True) if v != "" or k == "username"}


async def batches(
    records: Iterator[Record] | AsyncIterator[Record], size: int
) -> AsyncIterator[list[Record]]:
    """``records`` (a file's, or a database's) in lists of ``size``."""
    batch: list[Record] = []
    if isinstance(records, AsyncIterator):
        async for record in records:
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
    else:
        for record in records:
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


class Progress:
    """A one-line progress bar on a terminal (stderr); plain counts every
    ``every`` records when stderr is a pipe or a file."""

    def __init__(self, total_bytes: int | None, *, every: int = 100_000) -> None:
        self.tty = sys.stderr.isatty()
        self.total = total_bytes
        self.every = every
        self.read = 0
        self.records = 0
        self._next = every

    def advance_bytes(self, count: int) -> None:
        self.read += count

    def done(self, records: int) -> None:
        self.records += records
        if self.tty:
            share = ""
            if self.total:
                fraction = min(1.0, self.read / self.total)
                bar = "#" * math.floor(fraction * 30)
                share = f"[{bar:<30}] {fraction:4.0%} "
            typer.echo(f"\r{share}{self.records} records", err=True, nl=False)
        elif self.records >= self._next:
            typer.echo(f"{self.records} records", err=True)
            self._next = (self.records // self.every + 1) * self.every

    def close(self) -> None:
        if self.tty and self.records:
            typer.echo("", err=True)
