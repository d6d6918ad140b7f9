"""Keys of ``private_key_jwt`` clients registered with a ``jwks_uri`` (RFC 7523 §2.2,
RFC 7591 §2 ``jwks_uri``; SECURITY.md A.7 #55).

The service fetches nothing itself: the server injects a :data:`JwksFetcher` built on
the verifier's bounded HTTP (URL policy, timeouts, size cap, no redirects). Here:

* one cached set per client, kept for the answer's ``Cache-Control: max-age`` clamped
  to ``[MIN_TTL, MAX_TTL]`` (RFC 9111 §5.2.2.1), like the verifier's key source;
* an assertion naming an unknown ``kid`` refetches at most once per
  :data:`REFETCH_INTERVAL` (key rotation at the URL), and concurrent requests share
  one fetch (single-flight);
* a failed fetch keeps the last good set; with no good set the client cannot
  authenticate (the caller answers ``invalid_client``);
* a fetched set is read like a registered one (:func:`load_client_jwks`: public keys
  for the assertion algorithms only; ``oct`` keys and private members refuse it whole).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from authgate.clock import Clock
from authgate.errors import AuthError, JWKSError
from authgate.service.registry import load_client_jwks
from authgate.tokens import KeyRing

__all__ = ["MAX_TTL", "MIN_TTL", "REFETCH_INTERVAL", "ClientKeyCache", "JwksFetcher"]

#: GET a client's ``jwks_uri``: its JSON object and its ``max-age`` (None if absent).
#: Raises an :class:`~authgate.errors.AuthError` on any failure.
JwksFetcher = Callable[[str], Awaitable[tuple[Mapping[str, Any], float | None]]]

#: Seconds. Default, floor and ceiling of a fetched set's lifetime.
DEFAULT_TTL = 300.0
MIN_TTL = 60.0
MAX_TTL = 3600.0
#: Seconds between two fetches caused by an unknown ``kid`` (or after a failure).
REFETCH_INTERVAL = 30.0

log = logging.getLogger("authgate.service")


@dataclass(slots=True)
class _Entry:
    url: str
    ring: KeyRing | None = None
    expires: float = 0.0
    attempted: float | None = None  # the last fetch started, for whatever reason
    on_demand: float | None = None  # the last fetch started for an unknown kid
    flight: asyncio.Task[None] | None = None


def _recent(at: float | None, now: float) -> bool:
    return at is not None and at <= now < at + REFETCH_INTERVAL


class ClientKeyCache:
    """The key sets fetched from clients' ``jwks_uri``, per client."""

    def __init__(self, fetch: JwksFetcher, *, clock: Clock) -> None:
        self._fetch = fetch
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    async def ring(self, client_id: str, url: str, kid: str | None) -> KeyRing:
        """The client's keys, fetched when missing or expired (a failed fetch is
        retried after :data:`REFETCH_INTERVAL`), or when ``kid`` is not in them (at
        most once per :data:`REFETCH_INTERVAL`). Concurrent callers share one fetch.

        Raises:
            JWKSError: no good set was ever fetched from ``url``.
        """
        entry = self._entries.get(client_id)
        if entry is None or entry.url != url:
            entry = self._entries[client_id] = _Entry(url)
        if entry.flight is None:
            now = self._clock.now()
            stale = entry.ring is None or now >= entry.expires
            if stale and not _recent(entry.attempted, now):
                entry.flight = self._start(entry, now)
            elif self._unknown(entry, kid) and not _recent(entry.on_demand, now):
                entry.on_demand = now
                entry.flight = self._start(entry, now)
        if entry.flight is not None:
            await asyncio.shield(entry.flight)
        if entry.ring is None:
            raise JWKSError("the client's JWK Set could not be fetched")
        return entry.ring

    def forget(self) -> None:
        """Drop every cached set (the registry changed)."""
        self._entries.clear()

    @staticmethod
    def _unknown(entry: _Entry, kid: str | None) -> bool:
        return kid is not None and entry.ring is not None and entry.ring.get(kid) is None

    def _start(self, entry: _Entry, now: float) -> asyncio.Task[None]:
        entry.attempted = now
        return asyncio.create_task(self._refresh(entry))

    async def _refresh(self, entry: _Entry) -> None:
        try:
            document, max_age = await self._fetch(entry.url)
            ring = load_client_jwks(orjson.dumps(dict(document)).decode())
        except AuthError as exc:  # the last good set (if any) stays in use
            log.warning("client JWK Set %s refused: %s", entry.url, exc)
        else:
            ttl = DEFAULT_TTL if max_age is None else max_age
            entry.ring = ring
            entry.expires = self._clock.now() + min(max(ttl, MIN_TTL), MAX_TTL)
        finally:
            entry.flight = None
