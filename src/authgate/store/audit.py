"""Reading and pruning the ``audit_events`` table (writes: ``statements.INSERT_AUDIT``).

SECURITY.md A.7 #53 (OWASP Logging CS): the log has a retention; rows older than it
are deleted by the maintenance pass, through the index on ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.schema import audit_events, users

__all__ = ["AuditRow", "list_events", "purge_before"]


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
