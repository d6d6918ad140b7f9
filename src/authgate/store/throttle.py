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

Every operation is atomic where it is stored (SECURITY.md A.7 #47): in Redis one
command or one Lua script, in memory one synchronous function (no ``await`` inside,
so nothing else on the event loop runs in between). The same operations, with the
same results, exist for both, so one throttle code path serves one instance and
several:

* ``reserve``: refuse while the account's attempt lease is held (``busy``), while
  its back-off runs, or while the IP is at its limit; else take the lease, count
  the attempt in the account's window and in the IP's window. All or nothing.
* ``settle``: a failure keeps both counts and raises the back-off end (never lowers
  it); a success clears the account's counts and back-off and gives the IP count
  back; a release (no verdict) gives both counts back. The lease is dropped only by
  the token that took it.
* ``incr`` / ``get`` / ``clear``: plain counters (sign-ups per IP).

Keys expire (Redis TTLs, real time) only to collect garbage: the window number is
part of every counter's key, and the windows follow the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from authgate.clock import Clock
from authgate.store.throttle_memory import (
    BLOCKED,
    BUSY,
    FAILURE,
    IP_FULL,
    RELEASE,
    RESERVED,
    SUCCESS,
    MemoryCounters,
)

__all__ = [
    "BLOCKED",
    "BUSY",
    "FAILURE",
    "IP_FULL",
    "REDIS_CONNECT_TIMEOUT",
    "RELEASE",
    "RESERVED",
    "SUCCESS",
    "AttemptKeys",
    "Reservation",
    "ThrottleStore",
]

_log = logging.getLogger("authgate.service")
_T = TypeVar("_T")

#: Seconds to wait for a Redis connection or reply before counting in memory: Redis
#: is on the local network, and a login must not hang behind a dead host.
REDIS_CONNECT_TIMEOUT = 0.5
REDIS_SOCKET_TIMEOUT = 1.0


_RESERVE = """
local now = tonumber(ARGV[1])
local ip_full = 0
if KEYS[5] and tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(ARGV[5]) then
  ip_full = 1
end
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return {1, left, ip_full} end
local stop = tonumber(redis.call('GET', KEYS[2]) or '0')
if stop > now then return {2, math.ceil(stop - now), ip_full} end
if ip_full == 1 then return {3, 0, 1} end
if KEYS[5] and redis.call('INCR', KEYS[5]) == 1 then
  redis.call('EXPIRE', KEYS[5], ARGV[6])
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
return {0, count, tonumber(redis.call('GET', KEYS[4]) or '0')}
"""

_SETTLE = """
local outcome = tonumber(ARGV[2])
if outcome == 1 then
  if tonumber(ARGV[3]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
    redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  end
elseif outcome == 2 then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
elseif tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then
  redis.call('DECR', KEYS[3])
end
if outcome ~= 1 and KEYS[5] and tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then
  redis.call('DECR', KEYS[5])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return value
"""


@dataclass(frozen=True, slots=True)
class AttemptKeys:
    """The keys one password attempt touches (unprefixed)."""

    busy: str
    until: str
    current: str
    previous: str
    ip: str | None

    def names(self, prefix: str) -> list[str]:
        keys = [self.busy, self.until, self.current, self.previous]
        if self.ip is not None:
            keys.append(self.ip)
        return [prefix + k for k in keys]


@dataclass(frozen=True, slots=True)
class Reservation:
    """What ``reserve`` answered.

    ``verdict`` RESERVED: ``current``/``previous`` are the account's counts in this
    and the previous window (this attempt included). BUSY / BLOCKED: ``wait_ms``
    until the lease or the back-off ends. ``ip_full``: the IP is at its limit.
    ``in_memory``: where it was reserved, so it is settled there too.
    """

    verdict: int
    current: int = 0
    previous: int = 0
    wait_ms: int = 0
    ip_full: bool = False
    in_memory: bool = False


def _redis_url(uri: str) -> str:
    """``limits``-style URIs (``async+redis://``, ``redis+unix://``) → redis-py's."""
    uri = uri.removeprefix("async+")
    return "unix://" + uri[len("redis+unix://") :] if uri.startswith("redis+unix://") else uri


class ThrottleStore:
    """Atomic counter operations on Redis, or in memory while Redis is down.

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
        self._memory = MemoryCounters()
        self._redis: Any = None
        if storage_uri is not None and storage_uri.removeprefix("async+") != "memory://":
            self._redis = aioredis.from_url(
                _redis_url(storage_uri),
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_SOCKET_TIMEOUT,
            )
            self._reserve = self._redis.register_script(_RESERVE)
            self._settle = self._redis.register_script(_SETTLE)
            self._incr = self._redis.register_script(_INCR)
        self._retry_after = retry_after
        self._down_since: float | None = None

    @property
    def degraded(self) -> bool:
        """True while counting in memory because Redis failed."""
        return self._down_since is not None

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount``; a new key expires after ``expiry`` seconds. Returns the value."""
        name = self._prefix + key
        value, _ = await self._run(
            lambda: self._incr(keys=[name], args=[amount, expiry]),
            lambda: self._memory.incr(name, expiry, amount),
        )
        return int(value)

    async def get(self, key: str) -> int:
        name = self._prefix + key
        value, _ = await self._run(lambda: self._redis.get(name), lambda: self._memory.get(name))
        return int(value or 0)

    async def clear(self, key: str) -> None:
        name = self._prefix + key
        await self._run(lambda: self._redis.delete(name), lambda: self._memory.clear(name))

    async def reserve(
        self,
        keys: AttemptKeys,
        *,
        now_ms: float,
        token: str,
        lease_ms: int,
        expiry: int,
        ip_limit: int,
        ip_expiry: int,
    ) -> Reservation:
        """Reserve one attempt, all or nothing (see the module docstring)."""
        names = keys.names(self._prefix)
        args: list[Any] = [now_ms, token, lease_ms, expiry, ip_limit, ip_expiry]
        answer, in_memory = await self._run(
            lambda: self._reserve(keys=names, args=args),
            lambda: self._memory.reserve(names, args),
        )
        verdict, first, second = (int(v) for v in answer)
        if verdict == RESERVED:
            return Reservation(RESERVED, current=first, previous=second, in_memory=in_memory)
        return Reservation(verdict, wait_ms=first, ip_full=bool(second), in_memory=in_memory)

    async def settle(
        self,
        keys: AttemptKeys,
        *,
        token: str,
        outcome: int,
        until_ms: int = 0,
        until_expiry: int = 1,
        in_memory: bool = False,
    ) -> None:
        """Settle a reservation where it was made (see the module docstring)."""
        names = keys.names(self._prefix)
        args: list[Any] = [token, outcome, until_ms, until_expiry]
        if in_memory:
            self._memory.settle(names, args)
            return
        await self._run(
            lambda: self._settle(keys=names, args=args),
            lambda: self._memory.settle(names, args),
        )

    async def aclose(self) -> None:
        """Release the Redis connections."""
        if self._redis is not None:
            await self._redis.aclose()

    async def _run(
        self, on_redis: Callable[[], Awaitable[_T]], in_memory: Callable[[], _T]
    ) -> tuple[_T, bool]:
        """(result, True when it ran in memory)."""
        if self._redis is None:
            return in_memory(), True
        now = self._clock.now()
        if self._down_since is None or now - self._down_since >= self._retry_after:
            try:
                result = await on_redis()
            except (RedisError, OSError, TimeoutError) as exc:
                if self._down_since is None:
                    _log.warning(
                        "throttle: Redis unreachable (%s); counting in memory on this "
                        "instance until it answers",
                        type(exc).__name__,
                    )
                self._down_since = now
            else:
                if self._down_since is not None:
                    _log.warning("throttle: Redis answers again; counting in Redis")
                    self._down_since = None
                return result, False
        return in_memory(), True
