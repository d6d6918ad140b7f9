"""Security events: a row in ``audit_events`` and a record on ``authgate.audit``.

OWASP Logging CS / SECURITY.md A.6 #45: every authentication event is logged, and
never a password, an access token or a refresh token — callers pass ids only.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.service.protocol import AUDIT_LOGGER
from authgate.store.statements import INSERT_AUDIT

__all__ = ["audit", "audit_sync", "log_event"]

_log = logging.getLogger(AUDIT_LOGGER)
#: Events that signal an attack rather than a user's mistake (RFC 9700 §4.14.2: a
#: rotated refresh token came back) go out at WARNING, so an alert can key on the level.
_WARNING_EVENTS = frozenset({"refresh_reuse"})


def log_event(
    name: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    _log.log(
        logging.WARNING if name in _WARNING_EVENTS else logging.INFO,
        name,
        extra={
            "event": name,
            "user_id": user_id,
            "session_id": session_id,
            "ip": ip,
            "detail": detail,
        },
    )


def _row(
    name: str, now: float, user_id: str | None, session_id: str | None, ip: str | None, detail: Any
) -> dict[str, Any]:
    return {
        "at": now,
        "event": name,
        "user_id": user_id,
        "session_id": session_id,
        "ip": ip[:64] if ip else None,
        "detail": orjson.dumps(detail).decode(),
    }


def audit_sync(
    conn: Connection,
    name: str,
    *,
    now: float,
    user_id: str | None = None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """:func:`audit` for a transaction running in a worker thread."""
    conn.execute(INSERT_AUDIT, _row(name, now, user_id, session_id, ip, detail))
    log_event(name, user_id=user_id, session_id=session_id, ip=ip, **detail)


async def audit(
    conn: AsyncConnection,
    name: str,
    *,
    now: float,
    user_id: str | None = None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Write the event in the caller's transaction, and log it."""
    await conn.execute(INSERT_AUDIT, _row(name, now, user_id, session_id, ip, detail))
    log_event(name, user_id=user_id, session_id=session_id, ip=ip, **detail)
