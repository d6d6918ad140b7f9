"""``authgate audit list``: read the audit log (OWASP Logging CS; SECURITY.md A.6 #45,
A.7 #53). Reads the database directly, so it works beside running servers.

Bad input (``--since``, ``--limit``, ``--event``) is one line on stderr and exit 2;
a database problem is one line and exit 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from typing import Annotated, Any

import orjson
import typer

from authgate.cli._app import App
from authgate.cli._common import cli_errors, fail, load_settings
from authgate.cli._table import JsonFlag, emit_json, emit_table, when
from authgate.errors import ConfigError, InvalidRequest
from authgate.service.users import normalize_username
from authgate.settings import Settings
from authgate.store.audit import AuditRow, list_events
from authgate.store.errors import store_errors
from authgate.store.url import READ_ONLY, create_engine, normalize_url, sqlite_path

__all__ = ["app", "parse_since"]

app = App(help="The audit log: list.")

_RELATIVE = re.compile(r"(\d{1,6})([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_EVENT = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_LIMIT = 100_000
_BAD_INPUT = 2


def parse_since(value: str, now: float) -> float:
    """``24h`` / ``7d`` / ``30m`` / ``90s`` / ``2w`` before ``now``, or an ISO 8601 date
    or time (UTC when it names no offset), as epoch seconds.

    Raises:
        ValueError: neither form.
    """
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {value[:40]!r}: use ISO 8601 (2026-01-31T12:00:00Z) or 24h, 7d, 30m"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


async def _list(
    settings: Settings,
    *,
    user: str | None,
    event: str | None,
    since: float | None,
    limit: int,
) -> list[AuditRow]:
    key: str | None = None
    if user is not None:
        try:
            _, key = normalize_username(user)
        except InvalidRequest:
            key = None  # not a username: maybe a user id
    url = normalize_url(settings.resolved_database_url())
    path = sqlite_path(url)
    if path is not None and not path.exists():  # reading creates nothing
        raise ConfigError(f"no database at {path} (AUTHGATE_DATA_DIR, AUTHGATE_DATABASE_URL)")
    engine = create_engine(url)
    try:
        with store_errors():
            async with engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    return await list_events(
                        conn,
                        user=user,
                        user_key=key,
                        event=event,
                        since=since,
                        limit=limit,
                    )
    finally:
        await engine.dispose()


_AUDIT_COLUMNS = {
    "at": "AT",
    "event": "EVENT",
    "user_id": "USER",
    "session_id": "SESSION",
    "ip": "IP",
    "detail": "DETAIL",
}


def _record(row: AuditRow) -> dict[str, Any]:
    try:
        detail = orjson.loads(row.detail)
    except orjson.JSONDecodeError:
        detail = row.detail
    return {
        "id": row.id,
        "at": when(row.at),
        "ts": row.at,
        "event": row.event,
        "user_id": row.user_id,
        "session_id": row.session_id,
        "ip": row.ip,
        "detail": detail,
    }


def _table_row(row: AuditRow) -> dict[str, Any]:
    return {**_record(row), "detail": None if row.detail in ("{}", "") else row.detail}


@app.command("list")
def list_command(
    user: Annotated[
        str | None, typer.Option("--user", help="A username or user id.", show_default=False)
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="One event name, e.g. login_failed.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="ISO 8601 (2026-01-31T12:00:00Z) or relative: 24h, 7d."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most this many rows.")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """The newest audit events first, optionally filtered."""
    if not 1 <= limit <= _MAX_LIMIT:
        fail(f"--limit must be between 1 and {_MAX_LIMIT}", _BAD_INPUT)
    if event is not None and not _EVENT.fullmatch(event):
        fail(f"--event {event[:40]!r} is not an event name (e.g. login_failed)", _BAD_INPUT)
    if user is not None and not 1 <= len(user) <= 1024:
        fail("--user must be a username or user id", _BAD_INPUT)
    cutoff: float | None = None
    if since is not None:
        try:
            cutoff = parse_since(since, time.time())
        except ValueError as exc:
            fail(str(exc), _BAD_INPUT)
    settings = load_settings()
    with cli_errors():
        found = asyncio.run(_list(settings, user=user, event=event, since=cutoff, limit=limit))
    if as_json:
        emit_json([_record(row) for row in found])
    elif not found:
        typer.echo("no audit events", err=True)
    else:
        emit_table(_AUDIT_COLUMNS, [_table_row(row) for row in found])
