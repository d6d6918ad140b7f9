"""The login throttle's counters behind a Protocol (:class:`ThrottleCounters`):
Redis in :mod:`authgate.store.throttle`, the same operations in memory in
:mod:`authgate.store.throttle_memory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from authgate.store.throttle import AttemptKeys, Reservation

__all__ = ["ThrottleCounters"]


class ThrottleCounters(Protocol):
    """Atomic counters of the login throttle (:class:`authgate.store.throttle.ThrottleStore`)."""

    @property
    def degraded(self) -> bool: ...

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...

    async def get(self, key: str) -> int: ...

    async def clear(self, key: str) -> None: ...

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
    ) -> Reservation: ...

    async def settle(
        self,
        keys: AttemptKeys,
        *,
        token: str,
        outcome: int,
        until_ms: int = 0,
        until_expiry: int = 1,
        in_memory: bool = False,
    ) -> None: ...

    async def aclose(self) -> None: ...
