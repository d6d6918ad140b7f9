"""``authgate users import`` and ``authgate users export``: accounts in and out as
JSON Lines (or CSV in), streamed, in batches (:mod:`authgate.service.imports`)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from authgate.cli._common import cli_errors, fail, load_settings, os_error_message
from authgate.cli._records import Progress, Record, batches, read_csv, read_jsonl
from authgate.clock import SystemClock
from authgate.service.endings import endings_for
from authgate.service.import_changes import IMPORTED_HASH_PURPOSE
from authgate.service.imports import BatchResult, UserImport
from authgate.service.keystore import check_kek, deployment_kek
from authgate.service.revocation import RevocationState
from authgate.service.sync import RevocationSync
from authgate.settings import Settings
from authgate.store.database import Database
from authgate.store.fanout import RedisFanout, channel_for
from authgate.store.kek import KeyEncryptionKey

__all__ = ["register", "run_import"]


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@asynccontextmanager
async def _database(
    settings: Settings, kek: KeyEncryptionKey | None = None
) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url(), kek=kek)
    try:
        await db.migrate()
        yield db
    finally:
        await db.aclose()


@asynccontextmanager
async def _importer(
    settings: Settings, *, update: bool, dry_run: bool
) -> AsyncIterator[UserImport]:
    """The importer, with what ``--update`` needs to cut accounts off as ``users
    disable`` does: the endings (rows in the revocation log, which every instance
    replays) and a sync whose ``emit`` nudges the instances over Redis when one is
    configured, so they read the log at once (SECURITY.md A.7 #50)."""
    clock = SystemClock()
    fanout = None
    if settings.redis_url and update and not dry_run:
        fanout = RedisFanout(settings.redis_url, channel=channel_for(settings.redis_namespace))
    # The key of the imported hashes' MACs is the server's KEK's (import_changes.py):
    # a command run with another KEK is refused, never left to write MACs no later
    # import can match.
    kek = await deployment_kek(settings, create=not dry_run)
    try:
        async with _database(settings, kek) as db:
            if kek is not None:
                await check_kek(db)
            sync = RevocationSync(db, RevocationState(), clock=clock, fanout=fanout)
            try:
                yield UserImport(
                    db,
                    update=update,
                    dry_run=dry_run,
                    endings=endings_for(settings, clock),
                    sync=sync,
                    require_email=settings.require_verified_email,
                    hash_key=kek.subkey(IMPORTED_HASH_PURPOSE) if kek is not None else None,
                )
            finally:
                await sync.aclose()  # the last nudges go out (briefly waited for)
    finally:
        if fanout is not None:
            await fanout.aclose()


def run_import(
    records: Iterator[Record] | AsyncIterator[Record],
    progress: Progress,
    *,
    update: bool,
    dry_run: bool,
    batch_size: int,
) -> None:
    """Write ``records`` batch by batch, report refused ones (``error: line N: ...``)
    and a summary; exit 1 when any record was refused."""
    settings = load_settings()
    total = BatchResult()

    def report(result: BatchResult) -> None:
        for line, reason in result.refused:
            typer.echo(f"error: line {line}: {reason}", err=True)
        total.inserted += result.inserted
        total.updated += result.updated
        total.skipped += result.skipped
        total.cut_off += result.cut_off
        total.refused.extend(result.refused)

    async def run() -> None:
        async with _importer(settings, update=update, dry_run=dry_run) as importer:
            # The next batch is validated while the previous one is written (the
            # database works in its own thread or server): one batch in flight.
            writing: asyncio.Task[BatchResult] | None = None
            async for batch in batches(records, batch_size):
                rows, result = importer.validate(batch, now=time.time())
                if writing is not None:
                    report(await writing)
                writing = asyncio.create_task(importer.write(rows, result))
                progress.done(len(batch))
            if writing is not None:
                report(await writing)

    try:
        asyncio.run(run())
    finally:
        progress.close()
    verb = "dry run: would import" if dry_run else "imported"
    # With --update: the accounts whose sessions and tokens were (would be) ended.
    cut = f", cut off {total.cut_off}" if update else ""
    typer.echo(
        f"{verb} {total.inserted}, updated {total.updated}, "
        f"skipped {total.skipped} existing, refused {len(total.refused)}{cut}"
    )
    if total.refused:
        raise typer.Exit(1)


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        exc.filename = None
        raise OSError(f"cannot read {path}: {os_error_message(exc)}") from None


UpdateFlag = Annotated[
    bool,
    typer.Option(
        "--update",
        help=(
            "Update accounts that exist (default: skip them). An account given another "
            "password hash, disabled, or left with fewer scopes is signed out everywhere."
        ),
    ),
]
DryRunFlag = Annotated[bool, typer.Option("--dry-run", help="Validate and count; write nothing.")]
BatchOption = Annotated[
    int,
    typer.Option("--batch-size", metavar="N", min=1, max=50_000, help="Records per transaction."),
]


def import_users(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSON Lines or CSV, '-' for stdin.")],
    fmt: Annotated[
        Format, typer.Option("--format", metavar="jsonl|csv", help="The file's format.")
    ] = Format.jsonl,
    update: UpdateFlag = False,
    dry_run: DryRunFlag = False,
    batch_size: BatchOption = 1000,
) -> None:
    """Import accounts (username, email, email_verified, disabled, scopes, created_at,
    password_hash as the old system stored it); their passwords keep working."""
    with cli_errors():
        if str(file) == "-":
            stream, size = sys.stdin.buffer, None
        else:
            stream = _open(file)
            size = file.stat().st_size if file.is_file() else None
        progress = Progress(size)
        reader = read_csv if fmt is Format.csv else read_jsonl
        with stream:
            run_import(
                reader(stream, progress),
                progress,
                update=update,
                dry_run=dry_run,
                batch_size=batch_size,
            )


def _export_line(row: dict[str, Any], with_hashes: bool) -> str:
    record = {
        "username": row["username"],
        "email": row["email"],
        "email_verified": bool(row["email_verified"]),
        "disabled": bool(row["disabled"]),
        "scopes": row["scopes"].split(),
        "created_at": datetime.fromtimestamp(row["created_at"], UTC).isoformat(),
    }
    if with_hashes:
        record["password_hash"] = row["password_hash"]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_users(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here (default: stdout)."),
    ] = None,
    with_hashes: Annotated[
        bool,
        typer.Option("--with-hashes", help="Include password hashes (for a migration only)."),
    ] = False,
) -> None:
    """Export every account as JSON Lines (no password hashes unless --with-hashes)."""
    with cli_errors():
        settings = load_settings()
        if output is not None and output.exists() and not output.is_file():
            fail(f"{output}: not a regular file")
        sink = sys.stdout if output is None else output.open("w", encoding="utf-8")
        if output is not None and with_hashes:
            output.chmod(0o600)  # password hashes: the owner only

        async def run() -> int:
            count = 0
            async with _database(settings) as db, db.read() as tx:
                async for row in tx.bulk_users.stream():
                    sink.write(_export_line(row, with_hashes))
                    count += 1
            return count

        try:
            count = asyncio.run(run())
        finally:
            if output is not None:
                sink.close()
        if output is not None:
            typer.echo(f"exported {count} users to {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_users)
    app.command("export")(export_users)
