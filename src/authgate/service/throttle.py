"""Failed-login throttling per account and per client IP (OWASP Authentication CS
"Account lockout", ASVS 5.0 6.1.1 / 6.3.1, SECURITY.md A.5 #38).

Rules, with ``limit = max_failures`` and ``window`` from
:class:`~authgate.settings.ThrottleSettings`:

* **Account.** ``n`` is the account's failures in the last ``window`` seconds,
  estimated as a sliding window over two fixed ones (the current window's count
  plus the previous one's, weighted by how much of it still overlaps and rounded
  up: ``limits``' sliding-window counter, rounded the cautious way). Once
  ``n >= limit`` the account is blocked for
  ``min(backoff_base × 2^(n − limit), window)`` seconds after its latest failure:
  1 s, 2 s, 4 s, … Every failure allowed through doubles the next wait, and a
  window boundary does not hand out a fresh set of attempts.
  Unknown usernames are counted exactly like real ones (the caller passes the
  normalised name either way), so the throttle does not reveal which accounts exist.
* **No permanent lockout.** A block ends at most ``window`` seconds after the last
  failure, and counts fade out after two windows, so an attacker cannot lock a
  victim out for longer than they keep trying (OWASP: lockout must expire).
* **IP.** ``per_ip_max_failures`` failures from one address in a fixed window block
  that address, across all accounts, until the window ends (password spraying).
* A successful login resets the account's count (not the IP's).
* **Registration.** ``registrations_per_ip_per_hour`` sign-ups from one address in a
  fixed hour, then ``RateLimited`` until the hour ends: each one costs an Argon2 hash.

Storage is :class:`~authgate.service.throttle_store.ThrottleStore`: in-process
memory, or Redis shared by every instance with a per-instance memory fallback while
Redis is unreachable (still throttled, never unlimited), used only for its atomic
``incr`` with expiry and ``get``.
The window maths runs on the injected :class:`~authgate.clock.Clock`, not on
``limits``' own wall-clock strategies: the window number is part of each key, so a
new window is simply a new key, and storage expiry (2 × window) only collects
garbage. Each failure stores the time its back-off ends under a key named by its
sequence number in its window (unique, because ``incr`` is atomic), so concurrent
failures on several app instances never overwrite each other's state.

The memory storage is per process (each uvicorn worker counts alone) and sweeps all
its keys for expiry after writes; it suits one worker and development. Production
with several workers or hosts uses Redis.
"""

from __future__ import annotations

import hashlib
import math

from authgate.clock import Clock
from authgate.errors import RateLimited
from authgate.service.throttle_store import ThrottleStore
from authgate.settings import DEFAULT_REDIS_NAMESPACE, ThrottleSettings

__all__ = ["DEFAULT_KEY_PREFIX", "LoginThrottle", "key_prefix_for"]


def key_prefix_for(namespace: str) -> str:
    """The throttle's key prefix for one deployment (``Settings.redis_namespace``)."""
    return f"{namespace}:throttle"


DEFAULT_KEY_PREFIX = key_prefix_for(DEFAULT_REDIS_NAMESPACE)
_HOUR = 3600
#: 2^40 s is beyond any window; bounding the exponent keeps the maths cheap.
_MAX_EXPONENT = 40


class LoginThrottle:
    """Per-account and per-IP failed-login limits with exponential back-off.

    Args:
        settings: the ``throttle`` section of the settings.
        storage_uri: ``None`` (or ``memory://``) for in-process memory, fit for one
            worker and development; or a Redis URL (``redis://``, ``rediss://``,
            ``redis+unix://``; an ``async+`` prefix is accepted too) shared by every
            app instance, for production.
        clock: the time source for every window and back-off computation.
        key_prefix: prefix of every storage key (lets tests and tenants share Redis).
    """

    def __init__(
        self,
        settings: ThrottleSettings,
        *,
        storage_uri: str | None,
        clock: Clock,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._store = ThrottleStore(storage_uri, clock=clock, key_prefix=key_prefix)

    async def check(self, account: str, ip: str | None) -> None:
        """Refuse an attempt while the account or the IP is blocked.

        Raises:
            RateLimited: with ``retry_after``, whole seconds until unblocked (≥ 1).
        """
        if not self._settings.enabled:
            return
        now = self._clock.now()
        wait = await self._account_wait(self._account_key(account), now)
        if ip is not None:
            wait = max(wait, await self._ip_wait(self._ip_key(ip), now))
        if wait > 0:
            raise RateLimited(math.ceil(wait))

    async def record_failure(self, account: str, ip: str | None) -> None:
        """Count one failed login for the account (existing or not) and the IP."""
        if not self._settings.enabled:
            return
        now = self._clock.now()
        window = self._window_number(now)
        expiry = 2 * self._settings.window  # the next window still looks back at this one
        account_key = self._account_key(account)
        count = await self._incr(f"{account_key}:{window}", expiry)
        previous = await self._get(f"{account_key}:{window - 1}")
        failures = self._estimate(count, previous, now)
        # Each failure records when the account may try again (0 s under the limit).
        # The key is named by the failure's sequence number, so no one else writes it;
        # a value left from before a reset() is overwritten by the correction.
        until_key = f"{account_key}:{window}:{count}:until"
        # Rounded down: under the limit the back-off is 0, and rounding up would block
        # the account for the sub-millisecond rest (Retry-After: 1 on a frozen clock).
        until = math.floor((now + self.backoff(failures)) * 1000)
        stored = await self._incr(until_key, expiry, until)
        if stored != until:
            await self._incr(until_key, expiry, until - stored)
        if ip is not None:
            await self._incr(f"{self._ip_key(ip)}:{window}", self._settings.window)

    async def reset(self, account: str) -> None:
        """Forget the account's failures after a successful login."""
        if not self._settings.enabled:
            return
        window = self._window_number(self._clock.now())
        account_key = self._account_key(account)
        for number in (window, window - 1):
            await self._store.clear(f"{account_key}:{number}")

    async def hit_registration(self, ip: str | None) -> None:
        """Count one registration from ``ip``; refuse it past the hourly limit.

        Raises:
            RateLimited: the address registered ``registrations_per_ip_per_hour``
                accounts this hour; ``retry_after`` is the rest of the hour.
        """
        if not self._settings.enabled or ip is None:
            return
        now = self._clock.now()
        hour = math.floor(now / _HOUR)
        count = await self._store.incr(f"register:{_digest(ip)}:{hour}", _HOUR)
        if count > self._settings.registrations_per_ip_per_hour:
            raise RateLimited(max(1, math.ceil((hour + 1) * _HOUR - now)))

    async def aclose(self) -> None:
        """Release the storage connections (Redis) and the expiry task (memory)."""
        await self._store.aclose()

    # -- internals ------------------------------------------------------------------

    def backoff(self, failures: int) -> float:
        """Seconds an account stays blocked after its ``failures``-th failure."""
        extra = failures - self._settings.max_failures
        if extra < 0:
            return 0.0
        seconds = self._settings.backoff_base * 2 ** min(extra, _MAX_EXPONENT)
        return float(min(seconds, self._settings.window))

    def _estimate(self, current: int, previous: int, now: float) -> int:
        """Failures in the last ``window`` seconds: the previous window's count
        weighted by its remaining overlap (sliding-window counter), rounded up, so
        the moment after a boundary counts every failure of the window before it."""
        window = self._settings.window
        # The time left in this window, subtracted before dividing: exact at epoch scale
        # (now / window would lose ~10^-10 of the fraction). Less a hair before rounding
        # up, so float error on a whole overlap (6 × 2/3) never adds a failure.
        overlap = ((self._window_number(now) + 1) * window - now) / window
        return current + math.ceil(previous * overlap - 1e-9)

    async def _account_wait(self, account_key: str, now: float) -> float:
        window = self._window_number(now)
        current = await self._get(f"{account_key}:{window}")
        previous = await self._get(f"{account_key}:{window - 1}")
        if not current and not previous:
            return 0.0
        # The latest failure set the back-off: the current window's last one, or else
        # the previous window's (a block carries over a window boundary).
        latest = f"{window}:{current}" if current else f"{window - 1}:{previous}"
        until = await self._get(f"{account_key}:{latest}:until") / 1000
        if not until:  # that failure is being recorded right now by another request
            until = now + self.backoff(self._estimate(current, previous, now))
        return until - now

    async def _ip_wait(self, ip_key: str, now: float) -> float:
        window = self._window_number(now)
        if await self._get(f"{ip_key}:{window}") < self._settings.per_ip_max_failures:
            return 0.0
        return (window + 1) * self._settings.window - now

    def _window_number(self, now: float) -> int:
        return math.floor(now / self._settings.window)

    def _account_key(self, account: str) -> str:
        # Hashed: usernames stay out of Redis, and any length or byte is a safe key.
        return f"account:{_digest(account)}"

    def _ip_key(self, ip: str) -> str:
        return f"ip:{_digest(ip)}"

    async def _incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._store.incr(key, expiry, amount)

    async def _get(self, key: str) -> int:
        return await self._store.get(key)


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
