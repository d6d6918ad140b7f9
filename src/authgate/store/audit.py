"""The audit aggregate: the ``audit_events`` table (implements
:class:`authgate.store.protocols.AuditLog`; the hot paths write
``statements.INSERT_AUDIT`` with :func:`audit_row`).

SECURITY.md A.7 #53 (OWASP Logging CS): the log has a retention; rows older than it
are deleted by the maintenance pass, through the index on ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.schema import audit_events, users
from authgate.store.statements import INSERT_AUDIT

__all__ = ["AuditRow", "SqlAudit", "audit_row", "list_events", "purge_before"]


def audit_row(
    name: str,
    now: float,
    user_id: str | None,
    session_id: str | None,
    ip: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The parameters of ``INSERT_AUDIT`` for one event."""
    return {
        "at": now,
        "event": name,
        "user_id": user_id,
        "session_id": session_id,
        "ip": ip[:64] if ip else None,
        "detail": orjson.dumps(detail).decode(),
    }


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: float
    event: str
    user_id: str | None
    session_id: str | None
    ip: str | None
    detail: str


async def purge_before(conn: AsyncConnection, cutoff: float) -> int:
    """Delete the rows written before ``cutoff`` (epoch seconds); how many went."""
    result = await conn.execute(delete(audit_events).where(audit_events.c.at < cutoff))
    return int(result.rowcount or 0)


async def list_events(
    conn: AsyncConnection,
    *,
    user: str | None = None,
    user_key: str | None = None,
    event: str | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """The newest ``limit`` rows, newest first. ``user`` matches a user id; ``user_key``
    a normalised username (the rows of that user's id)."""
    query: Any = select(audit_events).order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
    if user is not None or user_key is not None:
        by_name = select(users.c.id).where(users.c.username_key == (user_key or ""))
        query = query.where(
            or_(audit_events.c.user_id == (user or ""), audit_events.c.user_id.in_(by_name))
        )
    if event is not None:
        query = query.where(audit_events.c.event == event)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    rows = (await conn.execute(query.limit(limit))).all()
    return [
        AuditRow(
            id=int(r.id),
            at=float(r.at),
            event=r.event,
            user_id=r.user_id,
            session_id=r.session_id,
            ip=r.ip,
            detail=r.detail,
        )
        for r in rows
    ]


class SqlAudit:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        event: str,
        *,
        now: float,
        user_id: str | None,
        session_id: str | None,
        ip: str | None,
        detail: dict[str, Any],
    ) -> None:
        await self._conn.execute(
            INSERT_AUDIT, audit_row(event, now, user_id, session_id, ip, detail)
        )

    async def purge_before(self, cutoff: float) -> int:
        return await purge_before(self._conn, cutoff)

    async def events(
        self,
        *,
        user: str | None = None,
        user_key: str | None = None,
        event: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        return await list_events(
            self._conn, user=user, user_key=user_key, event=event, since=since, limit=limit
        )
