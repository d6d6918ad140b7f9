"""The revocation log: append-only rows every instance replays by ``seq``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.schema import revocations

__all__ = ["append", "fetch_after", "load_active", "max_seq", "purge_expired"]


async def append(
    conn: AsyncConnection, kind: str, key: str, value: float, expires_at: float, now: float
) -> None:
    await conn.execute(
        insert(revocations).values(
            kind=kind, key=key, value=value, expires_at=expires_at, created_at=now
        )
    )


async def load_active(conn: AsyncConnection, now: float) -> Sequence[Row]:  # type: ignore[type-arg]
    """Every unexpired row, oldest first."""
    stmt = select(revocations).where(revocations.c.expires_at > now).order_by(revocations.c.seq)
    return (await conn.execute(stmt)).all()


async def fetch_after(conn: AsyncConnection, seq: int, limit: int = 10_000) -> Sequence[Row]:  # type: ignore[type-arg]
    stmt = (
        select(revocations).where(revocations.c.seq > seq).order_by(revocations.c.seq).limit(limit)
    )
    return (await conn.execute(stmt)).all()


async def max_seq(conn: AsyncConnection) -> int:
    return int(
        (await conn.execute(select(func.coalesce(func.max(revocations.c.seq), 0)))).scalar_one()
    )


async def purge_expired(conn: AsyncConnection, now: float) -> int:
    result = await conn.execute(delete(revocations).where(revocations.c.expires_at <= now))
    return int(result.rowcount)
