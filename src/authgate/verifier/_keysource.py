"""Keeps a verify-only key ring fresh from an issuer's JWK Set.

When keys are fetched (all time maths on the injected clock):

- at ``start()``, once (discovery first when built from an issuer URL);
- in the background at 3/4 of the key set's lifetime, the lifetime being the
  answer's ``Cache-Control: max-age`` clamped to ``[min_ttl, max_ttl]``
  (``default_ttl`` when absent). The background task reads the clock at least
  every ``check_every`` seconds, so a suspended machine or a stepped clock delays
  a refresh by at most that; the verify path itself never reads the clock for it;
- on an unknown ``kid`` (a rotation on the issuer side), at most once per
  ``refetch_interval`` whatever the traffic (CVE-2026-48524: an attacker sending
  random kids must not turn the verifier into a load generator against the issuer).

At most one fetch is ever in flight: every caller that needs one awaits the same
task (single-flight). A failed fetch keeps the last good key set in use, so the
verifier works offline after its first success; failures are retried at most
once per ``refetch_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from authgate.clock import Clock
from authgate.errors import ConfigError, JWKSError, UnsafeKey
from authgate.tokens.keyring import KeyRing
from authgate.verifier._http import FetchLimits, fetch_json
from authgate.verifier._jwks import parse_jwks
from authgate.verifier._urls import check_fetch_url, metadata_url

__all__ = ["KeyRefreshPolicy", "KeySource", "VerifierStatus"]

log = logging.getLogger("authgate.verifier")


@dataclass(frozen=True, slots=True)
class KeyRefreshPolicy:
    """When to fetch keys. Seconds."""

    refetch_interval: float = 30.0
    default_ttl: float = 300.0
    min_ttl: float = 60.0
    max_ttl: float = 3600.0
    #: Longest real-time sleep of the background task between clock readings.
    check_every: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ConfigError("need 0 < min_ttl <= default_ttl <= max_ttl")
        if self.refetch_interval <= 0 or self.check_every <= 0:
            raise ConfigError("refetch_interval and check_every must be positive")

    def ttl(self, max_age: float | None) -> float:
        """RFC 9111 §5.2.2.1 max-age, clamped so that a key set is neither
        refetched on every request nor kept for days after a key was pulled."""
        value = self.default_ttl if max_age is None else max_age
        return min(max(value, self.min_ttl), self.max_ttl)


@dataclass(frozen=True, slots=True)
class VerifierStatus:
    """Readiness and health, for a service's /health or /ready endpoint."""

    #: keys are loaded: tokens can be verified (even with the issuer down)
    ready: bool
    #: the last fetch succeeded
    healthy: bool
    jwks_url: str | None
    kids: tuple[str, ...]
    last_success: float | None
    last_attempt: float | None
    last_error: str | None
    expires_at: float | None
    fetches: int


class KeySource:
    """Fetches, validates and installs key sets; see the module docstring."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str | None,
        client: httpx.AsyncClient,
        limits: FetchLimits,
        policy: KeyRefreshPolicy,
        clock: Clock,
        install: Callable[[KeyRing], None],
    ) -> None:
        self._issuer = issuer
        self._metadata_url = metadata_url(issuer) if jwks_url is None else None
        self._jwks_url = None if jwks_url is None else check_fetch_url(jwks_url, what="jwks_url")
        self._client = client
        self._limits = limits
        self._policy = policy
        self._clock = clock
        self._install = install
        self.metadata: dict[str, Any] | None = None
        self._kids: tuple[str, ...] = ()
        self._inflight: asyncio.Task[JWKSError | None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._next_check = -math.inf  # when the key set is due for a refresh
        # The last fetch time: a clock that moved back before it (NTP step, VM
        # restore) must not postpone refreshes until it catches up again.
        self._clock_floor = -math.inf
        self._last_on_demand: float | None = None
        self._last_attempt: float | None = None
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._expires_at: float | None = None
        self._fetches = 0

    # -- the fetch itself ------------------------------------------------------

    async def _discover(self) -> str:
        """RFC 8414 §3: fetch the metadata; its ``issuer`` must equal ours exactly
        (§3.3), and its ``jwks_uri`` must pass the same URL policy."""
        assert self._metadata_url is not None
        doc = (await fetch_json(self._client, self._metadata_url, self._limits)).document
        if doc.get("issuer") != self._issuer:
            raise JWKSError("metadata issuer does not equal the configured issuer (RFC 8414 §3.3)")
        try:
            jwks_url = check_fetch_url(doc.get("jwks_uri"), what="metadata jwks_uri")
        except ConfigError as exc:
            raise JWKSError(exc.message) from exc
        self.metadata = doc
        self._jwks_url = jwks_url
        return jwks_url

    async def _fetch(self) -> JWKSError | None:
        """One attempt. Never raises: the error is returned and recorded."""
        started = self._last_attempt = self._clock_floor = self._clock.now()
        self._fetches += 1
        try:
            url = self._jwks_url or await self._discover()
            fetched = await fetch_json(self._client, url, self._limits)
            keys = parse_jwks(fetched.document)
            ring = KeyRing.verify_only(keys)
        except Exception as failure:
            if isinstance(failure, JWKSError):
                exc = failure
            elif isinstance(failure, UnsafeKey):
                exc = JWKSError(failure.message)
            else:  # a bug or a closed client: still a failed fetch, not a 500
                log.exception("unexpected error while fetching keys")
                exc = JWKSError(f"unexpected {type(failure).__name__} while fetching keys")
            self._last_error = exc.message
            self._next_check = started + self._policy.refetch_interval
            log.warning("JWKS fetch failed, keeping the last good keys: %s", exc.message)
            return exc
        finally:
            self._inflight = None
        now = self._clock.now()
        ttl = self._policy.ttl(fetched.max_age)
        self._install(ring)
        kids = tuple(k.kid for k in keys)
        if kids != self._kids:
            log.info("JWKS key set now has kids: %s", ", ".join(kids))
        self._kids = kids
        self._last_success = now
        self._last_error = None
        self._expires_at = now + ttl
        self._next_check = now + 0.75 * ttl
        return None

    def _spawn(self) -> asyncio.Task[JWKSError | None]:
        task = asyncio.get_running_loop().create_task(self._fetch(), name="authgate-jwks-fetch")
        self._inflight = task
        return task

    # -- who asks for a fetch --------------------------------------------------

    async def refresh(self, *, force: bool = False) -> None:
        """Join the fetch in flight, or fetch now if ``force`` or the set is due.

        Raises:
            JWKSError: the fetch failed (the last good keys stay in use).
        """
        task = self._inflight
        if task is None:
            if not force and not self._due(self._clock.now()):
                return
            task = self._spawn()
        error = await asyncio.shield(task)
        if error is not None:
            raise JWKSError(error.message)

    async def on_unknown_kid(self) -> bool:
        """An unknown kid: refetch at most once per interval, sharing any fetch in
        flight. True when a fetch succeeded (the caller may retry once)."""
        task = self._inflight
        if task is None:
            now = self._clock.now()
            last = self._last_on_demand
            if last is not None and last <= now < last + self._policy.refetch_interval:
                return False
            self._last_on_demand = now
            task = self._spawn()
        return await asyncio.shield(task) is None

    def _due(self, now: float) -> bool:
        return now >= self._next_check or now < self._clock_floor

    async def _run(self) -> None:
        while True:
            delay = self._next_check - self._clock.now()
            await asyncio.sleep(min(max(delay, 0.0), self._policy.check_every))
            if self._due(self._clock.now()):
                with contextlib.suppress(JWKSError):
                    await self.refresh()

    # -- lifecycle and status --------------------------------------------------

    async def start(self, *, require_keys: bool = True) -> None:
        """First fetch, then the background refresher.

        Raises:
            JWKSError: the first fetch failed and ``require_keys`` is true.
        """
        if self._runner is not None:
            return
        try:
            await self.refresh(force=True)
        except JWKSError:
            if require_keys:
                raise
        self._runner = asyncio.get_running_loop().create_task(
            self._run(), name="authgate-jwks-refresh"
        )

    async def aclose(self) -> None:
        for task in (self._runner, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._runner = None
        self._inflight = None

    def status(self) -> VerifierStatus:
        return VerifierStatus(
            ready=bool(self._kids),
            healthy=self._last_success is not None and self._last_error is None,
            jwks_url=self._jwks_url,
            kids=self._kids,
            last_success=self._last_success,
            last_attempt=self._last_attempt,
            last_error=self._last_error,
            expires_at=self._expires_at,
            fetches=self._fetches,
        )
