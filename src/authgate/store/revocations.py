"""The revocation log: append-only rows every instance replays by ``seq``
(:class:`SqlRevocationLog` implements :class:`authgate.store.protocols.RevocationLog`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import RevocationEvent
from authgate.store.schema import revocations

__all__ = [
    "SqlRevocationLog",
    "append",
    "fetch_after",
    "load_active",
    "max_seq",
    "purge_expired",
]


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


def _event(row: Row) -> tuple[int, RevocationEvent]:  # type: ignore[type-arg]
    return int(row.seq), RevocationEvent(row.kind, row.key, float(row.value), float(row.expires_at))


class SqlRevocationLog:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def append(self, events: Sequence[RevocationEvent], now: float) -> None:
        for e in events:
            await append(self._conn, e.kind, e.key, e.value, e.expires_at, now)

    async def load_active(self, now: float) -> list[tuple[int, RevocationEvent]]:
        return [_event(r) for r in await load_active(self._conn, now)]

    async def after(self, seq: int) -> list[tuple[int, RevocationEvent]]:
        return [_event(r) for r in await fetch_after(self._conn, seq)]

    async def max_seq(self) -> int:
        return await max_seq(self._conn)

    async def purge_expired(self, now: float) -> int:
        return await purge_expired(self._conn, now)
