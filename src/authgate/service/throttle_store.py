"""Counter storage for the throttle: Redis shared by every instance, with an
in-process fallback while Redis is unreachable.

A throttle that fails closed turns a Redis outage into a login outage; one that
fails open turns it into unlimited password guessing (OWASP Authentication CS,
SECURITY.md A.5 #38). So while Redis does not answer, each instance counts in its
own memory: still throttled, never unlimited, though each instance now counts
alone (N instances allow up to N× the limit during the outage). A warning is
logged once per outage. Redis is tried again ``retry_after`` seconds (on the
injected clock) after it failed, and used again as soon as it answers; counts
made in memory during the outage are not copied back.

Storage is the ``limits`` package's async storage (``async+memory://`` in-process,
or Redis through redis-py's asyncio client, ``implementation="redispy"``, so no
``coredis`` dependency), used only for its atomic ``incr`` with expiry, ``get``
and ``clear``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.errors import StorageError

from authgate.clock import Clock

__all__ = ["REDIS_CONNECT_TIMEOUT", "ThrottleStore"]

_log = logging.getLogger("authgate.service")
_T = TypeVar("_T")

#: Seconds to wait for a Redis connection or reply before counting in memory: Redis
#: is on the local network, and a login must not hang behind a dead host.
REDIS_CONNECT_TIMEOUT = 0.5
REDIS_SOCKET_TIMEOUT = 1.0


class ThrottleStore:
    """``incr``/``get``/``clear`` on Redis, or in memory while Redis is down.

    Args:
        storage_uri: ``None`` or ``memory://`` for memory only; else a Redis URL
            (``redis://``, ``rediss://``, ``redis+unix://``; ``async+`` accepted).
        clock: decides when Redis is tried again after a failure.
        key_prefix: prefix of every key.
        retry_after: seconds in memory after a Redis failure before trying Redis again.
    """

    def __init__(
        self,
        storage_uri: str | None,
        *,
        clock: Clock,
        key_prefix: str,
        retry_after: float = 5.0,
    ) -> None:
        self._clock = clock
        self._prefix = key_prefix + ":"
        self._memory = MemoryStorage()
        self._redis: RedisStorage | None = None
        if storage_uri is not None and storage_uri.removeprefix("async+") != "memory://":
            uri = storage_uri if storage_uri.startswith("async+") else "async+" + storage_uri
            self._redis = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=key_prefix,
                wrap_exceptions=True,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_SOCKET_TIMEOUT,
            )
        self._retry_after = retry_after
        self._down_since: float | None = None

    @property
    def degraded(self) -> bool:
        """True while counting in memory because Redis failed."""
        return self._down_since is not None

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._run(
            lambda s: s.incr(key, expiry, amount),
            lambda: self._memory.incr(self._prefix + key, expiry, amount),
        )

    async def get(self, key: str) -> int:
        return await self._run(lambda s: s.get(key), lambda: self._memory.get(self._prefix + key))

    async def clear(self, key: str) -> None:
        await self._run(lambda s: s.clear(key), lambda: self._memory.clear(self._prefix + key))

    async def aclose(self) -> None:
        """Release the Redis connections and the memory storage's expiry task."""
        if self._redis is not None:
            client = cast(RedispyBridge, self._redis.bridge).get_connection()
            # limits types the client as a small Protocol; redis-py's has aclose().
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        timer = self._memory.timer
        if timer is not None and not timer.done():
            timer.cancel()

    async def _run(
        self,
        on_redis: Callable[[RedisStorage], Awaitable[_T]],
        in_memory: Callable[[], Awaitable[_T]],
    ) -> _T:
        if self._redis is None:
            return await in_memory()
        now = self._clock.now()
        if self._down_since is None or now - self._down_since >= self._retry_after:
            try:
                result = await on_redis(self._redis)
            except StorageError as exc:
                if self._down_since is None:
                    _log.warning(
                        "throttle: Redis unreachable (%s); counting in memory on this "
                        "instance until it answers",
                        type(exc.storage_error).__name__,
                    )
                self._down_since = now
            else:
                if self._down_since is not None:
                    _log.warning("throttle: Redis answers again; counting in Redis")
                    self._down_since = None
                return result
        return await in_memory()
