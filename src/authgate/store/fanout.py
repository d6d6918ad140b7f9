"""Revocation fan-out over Redis pub/sub.

Redis only makes propagation fast: the database log stays the source of truth, and
instances poll it when Redis is unreachable (see :mod:`authgate.service.sync`).
Anyone who can publish on the channel can send anything, so a message is a hint
that the log has new rows, never a revocation itself (SECURITY.md A.7 #50).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from authgate.settings import DEFAULT_REDIS_NAMESPACE

__all__ = ["CHANNEL", "Fanout", "RedisFanout", "channel_for"]

_log = logging.getLogger("authgate.store")


def channel_for(namespace: str) -> str:
    """The revocation channel of one deployment (``Settings.redis_namespace``):
    pub/sub channels are global to a Redis server, whatever database the URL names."""
    return f"{namespace}:revocations"


#: The channel under the default namespace.
CHANNEL = channel_for(DEFAULT_REDIS_NAMESPACE)


class Fanout(Protocol):
    """Broadcasts small messages to every instance. Delivery is best effort and
    unauthenticated: receivers treat every message as an untrusted hint."""

    healthy: bool

    async def publish(self, message: bytes) -> bool: ...

    async def run(
        self,
        on_message: Callable[[bytes], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]],
    ) -> None: ...

    async def aclose(self) -> None: ...


class RedisFanout:
    """Publishes to and subscribes on one Redis channel; reconnects forever."""

    def __init__(self, url: str, *, channel: str = CHANNEL, retry_delay: float = 0.5) -> None:
        self.channel = channel
        self.retry_delay = retry_delay
        self.healthy = False
        self._pub: Any = aioredis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
        self._sub: Any = aioredis.from_url(url, socket_connect_timeout=0.5)

    async def publish(self, message: bytes) -> bool:
        """Best effort: False (and a log line) when Redis is unreachable."""
        try:
            await self._pub.publish(self.channel, message)
        except (TimeoutError, RedisError, OSError) as exc:
            _log.warning("revocation fan-out: publish failed (%s)", type(exc).__name__)
            return False
        return True

    async def run(
        self,
        on_message: Callable[[bytes], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]],
    ) -> None:
        """Subscribe and deliver messages until cancelled, reconnecting on errors.

        ``on_message`` gets every message's bytes, unchecked; ``on_connected`` runs
        after each (re)subscription. Neither may block for long: they run on the
        reader's task, and messages wait behind them."""
        while True:
            pubsub = self._sub.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.healthy = True
                # Anything published while we were away is caught up from the DB.
                await on_connected()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and isinstance(msg.get("data"), bytes):
                        await on_message(msg["data"])
            except (TimeoutError, RedisError, OSError) as exc:
                if self.healthy:
                    _log.warning("revocation fan-out: Redis lost (%s)", type(exc).__name__)
                self.healthy = False
            finally:
                self.healthy = False
                with contextlib.suppress(TimeoutError, RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self.retry_delay)

    async def aclose(self) -> None:
        for client in (self._pub, self._sub):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
