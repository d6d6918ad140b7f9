"""Failed-login throttling per account and per client IP (OWASP Authentication CS
"Account lockout", ASVS 5.0 6.1.1 / 6.3.1, SECURITY.md A.5 #38, A.7 #47).

Every password verification (login, the current password of a password change) is
an :class:`Attempt`: **reserved** before the hash, then settled once after it:
``failed()``, ``succeeded()`` or ``release()`` (no verdict: an error came first).
The reservation is one atomic operation of the store (a Lua script in Redis, one
synchronous step in memory; never read-then-write, A.7 #47), so a burst of
concurrent requests cannot all pass a check made before any of them is counted:

* **One verification per account in flight.** The reservation takes the account's
  lease; another attempt for the account waits briefly for it (a few per process,
  at most ``BUSY_WAIT`` seconds) or gets ``RateLimited``. Different accounts never
  wait for each other: there is no global lock.
* **Account.** ``n`` is the account's failures in the last ``window`` seconds,
  estimated as a sliding window over two fixed ones (the current window's count
  plus the previous one's, weighted by how much of it still overlaps and rounded
  up: ``limits``' sliding-window counter, rounded the cautious way). Once
  ``n >= limit`` the account is blocked for
  ``min(backoff_base × 2^(n − limit), window)`` seconds after its latest failure:
  1 s, 2 s, 4 s, … Every failure allowed through doubles the next wait, and a
  window boundary does not hand out a fresh set of attempts. The reserved attempt
  is counted at once and given back by a release, so a crash mid-hash still counts.
  Unknown usernames are counted exactly like real ones (the caller passes the
  normalised name either way), so the throttle does not reveal which accounts exist.
* **No permanent lockout.** A block ends at most ``window`` seconds after the last
  failure, and counts fade out after two windows, so an attacker cannot lock a
  victim out for longer than they keep trying (OWASP: lockout must expire).
* **IP.** ``per_ip_max_failures`` failures and attempts in flight from one address
  in a fixed window block that address, across all accounts, until the window ends
  (password spraying). A success or a release gives its IP count back.
* A success resets the account's count (not the IP's failures).
* **Registration.** ``registrations_per_ip_per_hour`` sign-ups from one address in a
  fixed hour, then ``RateLimited`` until the hour ends: each one costs an Argon2 hash.

Storage is :class:`~authgate.store.throttle.ThrottleStore`: Redis shared by
every instance, or per-instance memory (one worker, development, and the fallback
while Redis is unreachable: still throttled, never unlimited). The window maths runs
on the injected :class:`~authgate.clock.Clock`: the window number is part of each
key, so a new window is simply a new key, and storage expiry only collects garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import secrets
from types import TracebackType

from authgate.clock import Clock
from authgate.errors import RateLimited
from authgate.settings import DEFAULT_REDIS_NAMESPACE, ThrottleSettings
from authgate.store.protocols import ThrottleCounters
from authgate.store.throttle import (
    BLOCKED,
    BUSY,
    FAILURE,
    RELEASE,
    RESERVED,
    SUCCESS,
    AttemptKeys,
    Reservation,
    ThrottleStore,
)

__all__ = ["BUSY_WAIT", "DEFAULT_KEY_PREFIX", "Attempt", "LoginThrottle", "key_prefix_for"]


def key_prefix_for(namespace: str) -> str:
    """The throttle's key prefix for one deployment (``Settings.redis_namespace``)."""
    return f"{namespace}:throttle"


DEFAULT_KEY_PREFIX = key_prefix_for(DEFAULT_REDIS_NAMESPACE)
_HOUR = 3600
#: 2^40 s is beyond any window; bounding the exponent keeps the maths cheap.
_MAX_EXPONENT = 40
#: Seconds an attempt waits for the account's verification in flight before 429.
BUSY_WAIT = 1.0
#: Attempts of one account waiting in one process; more get 429 at once, so a burst
#: holds no more than this many requests (and Redis polls) per account.
_MAX_WAITERS = 8
#: How often a waiter looks again when the lease is held elsewhere (another instance).
_POLL = 0.05
#: The lease outlives any sane verification (the hash queue included); it only
#: matters when an instance dies holding it.
_LEASE_MS = 15_000


class Attempt:
    """One reserved password verification. Settle it exactly once; leaving the
    ``async with`` block unsettled releases it (A.7 #47)."""

    __slots__ = ("_keys", "_reservation", "_settled", "_throttle", "_token")

    def __init__(
        self,
        throttle: LoginThrottle | None,
        keys: AttemptKeys | None = None,
        token: str = "",
        reservation: Reservation | None = None,
    ) -> None:
        self._throttle = throttle
        self._keys = keys
        self._token = token
        self._reservation = reservation
        self._settled = throttle is None

    async def failed(self) -> None:
        """The password was wrong (or the account unusable): the attempt counts,
        and the account's back-off is raised to match its failures."""
        if self._settled:
            return
        assert self._throttle is not None
        assert self._reservation is not None
        now = self._throttle.clock.now()
        failures = self._throttle.estimate(
            self._reservation.current, self._reservation.previous, now
        )
        # Rounded down: under the limit the back-off is 0, and rounding up would block
        # the account for the sub-millisecond rest (Retry-After: 1 on a frozen clock).
        until = math.floor((now + self._throttle.backoff(failures)) * 1000)
        await self._settle(FAILURE, until)

    async def succeeded(self) -> None:
        """The password was right: the account's failures are forgotten."""
        await self._settle(SUCCESS)

    async def release(self) -> None:
        """No verdict (an error before it): the attempt is given back."""
        await self._settle(RELEASE)

    async def _settle(self, outcome: int, until_ms: int = 0) -> None:
        if self._settled:
            return
        self._settled = True
        assert self._throttle is not None
        assert self._keys is not None
        assert self._reservation is not None
        await self._throttle.settle(self._keys, self._token, outcome, until_ms, self._reservation)

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._settled:
            # Shielded: a cancelled request must still give its lease back.
            await asyncio.shield(self.release())


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
        counters: the counter storage, instead of one built from ``storage_uri``.
    """

    def __init__(
        self,
        settings: ThrottleSettings,
        *,
        storage_uri: str | None,
        clock: Clock,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        counters: ThrottleCounters | None = None,
    ) -> None:
        self._settings = settings
        self.clock = clock
        self._store: ThrottleCounters = counters or ThrottleStore(
            storage_uri, clock=clock, key_prefix=key_prefix
        )
        # Per account key: (event set when a local attempt settles, waiters).
        self._waiting: dict[str, tuple[asyncio.Event, int]] = {}

    async def reserve(self, account: str, ip: str | None) -> Attempt:
        """Reserve one password verification for ``account`` from ``ip``, before
        the hash (A.7 #47). Use the result as ``async with`` and settle it.

        Raises:
            RateLimited: the account is blocked or busy, or the IP is at its limit;
                ``retry_after`` is whole seconds (≥ 1).
        """
        if not self._settings.enabled:
            return Attempt(None)
        account_key = f"account:{_digest(account)}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_WAIT
        waiting = False
        try:
            while True:
                now = self.clock.now()
                window = self._window_number(now)
                keys = AttemptKeys(
                    busy=f"{account_key}:busy",
                    until=f"{account_key}:until",
                    current=f"{account_key}:{window}",
                    previous=f"{account_key}:{window - 1}",
                    ip=f"ip:{_digest(ip)}:{window}" if ip is not None else None,
                )
                token = secrets.token_hex(8)
                answer = await self._store.reserve(
                    keys,
                    now_ms=now * 1000,
                    token=token,
                    lease_ms=_LEASE_MS,
                    expiry=2 * self._settings.window,  # the next window looks back here
                    ip_limit=self._settings.per_ip_max_failures,
                    ip_expiry=self._settings.window,
                )
                if answer.verdict == RESERVED:
                    return Attempt(self, keys, token, answer)
                left = deadline - loop.time()
                if answer.verdict != BUSY or answer.ip_full or left <= 0:
                    # Busy: "try again shortly"; the lease's own end says nothing.
                    wait = answer.wait_ms / 1000 if answer.verdict == BLOCKED else 1.0
                    if answer.ip_full:
                        wait = max(wait, (window + 1) * self._settings.window - now)
                    raise RateLimited(math.ceil(wait))
                if not waiting:
                    if not self._enter_wait(account_key):
                        raise RateLimited(1)
                    waiting = True
                await self._wait_release(account_key, min(left, _POLL))
        finally:
            if waiting:
                self._leave_wait(account_key)

    async def settle(
        self,
        keys: AttemptKeys,
        token: str,
        outcome: int,
        until_ms: int,
        reservation: Reservation,
    ) -> None:
        """Store an attempt's outcome and drop its lease (see :class:`Attempt`)."""
        try:
            await self._store.settle(
                keys,
                token=token,
                outcome=outcome,
                until_ms=until_ms,
                until_expiry=self._settings.window,  # a back-off never exceeds it
                in_memory=reservation.in_memory,
            )
        finally:
            account_key = keys.busy.removesuffix(":busy")
            entry = self._waiting.get(account_key)
            if entry is not None:
                entry[0].set()

    async def hit_registration(self, ip: str | None) -> None:
        """Count one registration from ``ip``; refuse it past the hourly limit.

        Raises:
            RateLimited: the address registered ``registrations_per_ip_per_hour``
                accounts this hour; ``retry_after`` is the rest of the hour.
        """
        if not self._settings.enabled or ip is None:
            return
        now = self.clock.now()
        hour = math.floor(now / _HOUR)
        count = await self._store.incr(f"register:{_digest(ip)}:{hour}", 2 * _HOUR)
        if count > self._settings.registrations_per_ip_per_hour:
            raise RateLimited(max(1, math.ceil((hour + 1) * _HOUR - now)))

    async def hit(self, name: str, value: str, *, limit: int, period: int = _HOUR) -> None:
        """Count one request of kind ``name`` for ``value`` (an account, an address, an
        IP) in a fixed ``period``; one atomic increment, so a burst cannot pass a
        check made before it was counted (A.7 #47). Used by account recovery.

        Raises:
            RateLimited: past ``limit`` this period; ``retry_after`` is its rest.
        """
        if not self._settings.enabled:
            return
        now = self.clock.now()
        slot = math.floor(now / period)
        # The key outlives its slot by a whole period: its TTL runs on the store's
        # clock, the slot on ``self.clock``, and a counter vanishing mid-slot (a burst
        # longer than ``period`` under a clock behind the store's) would let a second
        # ``limit`` through.
        count = await self._store.incr(f"{name}:{_digest(value)}:{slot}", 2 * period)
        if count > limit:
            raise RateLimited(max(1, math.ceil((slot + 1) * period - now)))

    async def aclose(self) -> None:
        """Release the storage connections (Redis)."""
        await self._store.aclose()

    # -- the maths ----------------------------------------------------------------

    def backoff(self, failures: int) -> float:
        """Seconds an account stays blocked after its ``failures``-th failure."""
        extra = failures - self._settings.max_failures
        if extra < 0:
            return 0.0
        seconds = self._settings.backoff_base * 2 ** min(extra, _MAX_EXPONENT)
        return float(min(seconds, self._settings.window))

    def estimate(self, current: int, previous: int, now: float) -> int:
        """Failures in the last ``window`` seconds: the previous window's count
        weighted by its remaining overlap (sliding-window counter), rounded up, so
        the moment after a boundary counts every failure of the window before it."""
        window = self._settings.window
        # The time left in this window, subtracted before dividing: exact at epoch scale
        # (now / window would lose ~10^-10 of the fraction). Less a hair before rounding
        # up, so float error on a whole overlap (6 × 2/3) never adds a failure.
        overlap = ((self._window_number(now) + 1) * window - now) / window
        return current + math.ceil(previous * overlap - 1e-9)

    def _window_number(self, now: float) -> int:
        return math.floor(now / self._settings.window)

    # -- waiting for the account's attempt in flight --------------------------------

    def _enter_wait(self, account_key: str) -> bool:
        event, count = self._waiting.get(account_key, (None, 0))
        if count >= _MAX_WAITERS:
            return False
        self._waiting[account_key] = (event or asyncio.Event(), count + 1)
        return True

    def _leave_wait(self, account_key: str) -> None:
        event, count = self._waiting[account_key]
        if count <= 1:
            del self._waiting[account_key]
        else:
            self._waiting[account_key] = (event, count - 1)

    async def _wait_release(self, account_key: str, seconds: float) -> None:
        event = self._waiting[account_key][0]
        event.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


def _digest(value: str) -> str:
    # Hashed: usernames stay out of Redis, and any length or byte is a safe key.
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
