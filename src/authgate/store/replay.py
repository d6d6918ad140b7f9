"""Single use of client-assertion ``jti``s (RFC 7523 §3 item 7, RFC 7521 §5.2):
the database table, or Redis when configured (``SET NX`` with the assertion's expiry),
shared by every instance either way. Both are one atomic step: of a burst of the same
assertion exactly one is accepted (SECURITY.md A.7 #55).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from authgate.errors import StoreUnavailable
from authgate.store.protocols import Store

__all__ = ["RedisReplay", "SqlReplay"]


class SqlReplay:
    """The ``assertion_jtis`` table; expired rows go in the maintenance pass."""

    def __init__(self, db: Store) -> None:
        self._db = db

    async def consume(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        async with self._db.write() as tx:
            return await tx.registry.consume_jti(client_id, jti, expires_at)

    async def aclose(self) -> None:
        return None


class RedisReplay:
    """``SET key 1 NX EX`` under the deployment's namespace; Redis expires the key."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis: Any = aioredis.from_url(
            url.removeprefix("async+"), socket_connect_timeout=0.5, socket_timeout=1.0
        )
        self._prefix = prefix

    async def consume(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        # Hashed: a jti is the client's text, of any length and alphabet.
        digest = hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()
        ttl = max(1, math.ceil(expires_at - now))
        try:
            done = await self._redis.set(f"{self._prefix}:{digest}", b"1", nx=True, ex=ttl)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is unavailable ({type(exc).__name__})") from exc
        return bool(done)

    async def aclose(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()
