"""The throttle's counters in process memory: the same operations, with the same
results, as the Redis scripts of :mod:`authgate.store.throttle`, used while Redis is
unreachable (SECURITY.md A.5 #38, A.7 #47)."""

from __future__ import annotations

import math
import time
from typing import Any

__all__ = [
    "BLOCKED",
    "BUSY",
    "FAILURE",
    "IP_FULL",
    "RELEASE",
    "RESERVED",
    "SUCCESS",
    "MemoryCounters",
]

# reserve() verdicts
RESERVED, BUSY, BLOCKED, IP_FULL = 0, 1, 2, 3
# settle() outcomes
FAILURE, SUCCESS, RELEASE = 1, 2, 3


class MemoryCounters:
    """The same operations on a dict; each runs without awaiting, so atomically.
    Expiry is real (monotonic) time, like Redis TTLs: it only collects garbage."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[Any, float]] = {}
        self._next_sweep = 0.0

    def _get(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def _int(self, key: str) -> int:
        value = self._get(key)
        return int(value) if isinstance(value, int) else 0

    def _set(self, key: str, value: Any, ttl: float) -> None:
        now = time.monotonic()
        self._data[key] = (value, now + ttl)
        if now >= self._next_sweep:  # at most once a second, so memory stays bounded
            self._next_sweep = now + 1.0
            for k in [k for k, (_, until) in self._data.items() if until <= now]:
                del self._data[k]

    def _add(self, key: str, amount: int, ttl: float) -> int:
        item = self._data.get(key)
        if item is None or item[1] <= time.monotonic():
            value = amount
            self._set(key, value, ttl)
        else:
            value = int(item[0]) + amount
            self._data[key] = (value, item[1])
        return value

    def incr(self, key: str, expiry: int, amount: int) -> int:
        return self._add(key, amount, expiry)

    def get(self, key: str) -> int:
        return self._int(key)

    def clear(self, key: str) -> None:
        self._data.pop(key, None)

    def reserve(self, keys: list[str], args: list[Any]) -> list[int]:
        now_ms, token, lease_ms, expiry, ip_limit, ip_expiry = args
        busy, until, current, previous, *ip = keys
        ip_full = int(bool(ip) and self._int(ip[0]) >= ip_limit)
        item = self._data.get(busy)
        if item is not None and item[1] > time.monotonic():
            return [BUSY, max(1, math.ceil((item[1] - time.monotonic()) * 1000)), ip_full]
        stop = self._int(until)
        if stop > now_ms:
            return [BLOCKED, math.ceil(stop - now_ms), ip_full]
        if ip_full:
            return [IP_FULL, 0, 1]
        if ip:
            self._add(ip[0], 1, ip_expiry)
        self._set(busy, token, lease_ms / 1000)
        return [RESERVED, self._add(current, 1, expiry), self._int(previous)]

    def settle(self, keys: list[str], args: list[Any]) -> None:
        token, outcome, until_ms, until_expiry = args
        busy, until, current, previous, *ip = keys
        if outcome == FAILURE:
            if until_ms > self._int(until):
                self._set(until, until_ms, until_expiry)
        elif outcome == SUCCESS:
            for key in (until, current, previous):
                self._data.pop(key, None)
        elif self._int(current) > 0:
            self._add(current, -1, 0)
        if outcome != FAILURE and ip and self._int(ip[0]) > 0:
            self._add(ip[0], -1, 0)
        if self._get(busy) == token:
            del self._data[busy]
