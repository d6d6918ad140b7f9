"""JWKSVerifier: authgate's access tokens, checked in another service.

It is the server's own strict :class:`~authgate.tokens.TokenCodec` and
:class:`~authgate.tokens.VerifiedTokenCache` over a verify-only
:class:`~authgate.tokens.KeyRing` built from the issuer's JWK Set, so every rule
(RFC 8725 §3, RFC 9068 §4, exact ``iss``, required ``aud``, ``typ: at+jwt``) is
enforced identically. The hot path is a synchronous ``codec.verify`` with
cached keys and nothing else; key freshness is the background task's job, and
only an unknown ``kid`` awaits a (rate-limited, shared) refetch.

Each rejection is logged at DEBUG on the ``authgate.verifier`` logger with its stable
code and reason (and, for ``iss`` / ``aud``, what this verifier expects), never the
token: a service configured with the wrong audience says why every request gets 401.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from authgate.clock import Clock, SystemClock
from authgate.errors import (
    ConfigError,
    InvalidClaim,
    Revoked,
    StoreUnavailable,
    TokenError,
    UnknownKey,
)
from authgate.tokens.cache import VerifiedTokenCache
from authgate.tokens.claims import VerifiedToken
from authgate.tokens.codec import DEFAULT_MAX_TOKEN_SIZE, TokenCodec
from authgate.tokens.keyring import KeyRing
from authgate.verifier._http import FetchLimits, new_client
from authgate.verifier._keysource import KeyRefreshPolicy, KeySource, VerifierStatus
from authgate.verifier._urls import check_fetch_url
from authgate.verifier.introspection import BearerCredentials, ClientCredentials, Introspector

__all__ = ["JWKSVerifier"]

log = logging.getLogger("authgate.verifier")


class JWKSVerifier:
    """Verifies authgate access tokens from the issuer's published keys.

    Build it with :meth:`from_issuer` (RFC 8414 discovery) or
    :meth:`from_jwks_url`, then ``async with verifier:`` (or ``await start()`` /
    ``await aclose()``). It implements ``AccessTokenVerifier``. Use one per event
    loop (its cache and tasks are not thread-safe); it is not restartable after
    ``aclose()``.

    Args:
        issuer: the exact ``iss`` tokens must carry (RFC 9068 §4).
        audience: this service's identifier; tokens must name it in ``aud``.
        jwks_url: the key set URL; ``None`` to discover it from ``issuer``.
        clock: time source for claims, key lifetimes and rate limits.
        leeway: tolerated clock skew (seconds, at most 60).
        cache_size: verified-token cache entries (0 disables the cache).
        policy: key refresh timings.
        limits: timeouts and size cap for every HTTP fetch.
        introspection: credentials to call the issuer's RFC 7662 endpoint on
            every verification (answers cached ``introspection_ttl`` seconds).
        introspection_url: the endpoint; discovered from the metadata if omitted.

    Raises:
        ConfigError: a URL outside the policy (https, or http to loopback only),
            no issuer or audience, a bad leeway, or introspection half-configured.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        clock: Clock | None = None,
        leeway: float = 30.0,
        cache_size: int = 10_000,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        policy: KeyRefreshPolicy | None = None,
        limits: FetchLimits | None = None,
        introspection: ClientCredentials | BearerCredentials | None = None,
        introspection_url: str | None = None,
        introspection_ttl: float = 5.0,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._limits = limits or FetchLimits()
        self._client = new_client(self._limits)
        self.codec = TokenCodec(
            KeyRing(),
            issuer=issuer,
            audience=audience,
            clock=self.clock,
            leeway=leeway,
            max_size=max_token_size,
            cache=VerifiedTokenCache(cache_size) if cache_size > 0 else None,
        )
        self._source = KeySource(
            issuer=issuer,
            jwks_url=jwks_url,
            client=self._client,
            limits=self._limits,
            policy=policy or KeyRefreshPolicy(),
            clock=self.clock,
            install=self._install,
        )
        if introspection is None and introspection_url is not None:
            raise ConfigError("introspection_url needs introspection credentials")
        if introspection is not None and introspection_url is None and jwks_url is not None:
            raise ConfigError("introspection with a jwks_url needs an introspection_url")
        if introspection_url is not None:
            check_fetch_url(introspection_url, what="introspection_url")
        self._introspection_creds = introspection
        self._introspection_url = introspection_url
        self._introspection_ttl = introspection_ttl
        self._introspector: Introspector | None = None

    @classmethod
    def from_issuer(cls, issuer: str, *, audience: str, **kwargs: Any) -> JWKSVerifier:
        """Discover ``jwks_uri`` from ``issuer``'s RFC 8414 metadata at start."""
        return cls(issuer=issuer, audience=audience, **kwargs)

    @classmethod
    def from_jwks_url(
        cls, jwks_url: str, *, issuer: str, audience: str, **kwargs: Any
    ) -> JWKSVerifier:
        """Fetch keys from ``jwks_url`` directly (no discovery)."""
        return cls(issuer=issuer, audience=audience, jwks_url=jwks_url, **kwargs)

    def _install(self, ring: KeyRing) -> None:
        # One attribute swap: a verification in progress sees the old ring or the new.
        self.codec.keys = ring

    # -- lifecycle -------------------------------------------------------------

    async def start(self, *, require_keys: bool = True) -> None:
        """Fetch the keys (discovering them first if built from an issuer) and
        start the background refresher.

        Args:
            require_keys: when false, a failed first fetch is recorded in
                :meth:`status` instead of raised, and retried in the background.

        Raises:
            JWKSError: the first fetch failed (metadata or key set unusable).
            ConfigError: the discovered introspection endpoint is not usable.
        """
        await self._source.start(require_keys=require_keys)
        creds = self._introspection_creds
        known = self._introspection_url is not None or self._source.metadata is not None
        if creds is not None and self._introspector is None and known:
            try:
                self._introspector = self._make_introspector(creds)
            except ConfigError:
                await self._source.aclose()
                raise

    def _make_introspector(self, creds: ClientCredentials | BearerCredentials) -> Introspector:
        url = self._introspection_url
        if url is None:
            url = (self._source.metadata or {}).get("introspection_endpoint")
            if not isinstance(url, str):
                raise ConfigError("the issuer's metadata has no introspection_endpoint")
        return Introspector(
            url,
            creds,
            client=self._client,
            limits=self._limits,
            clock=self.clock,
            ttl=self._introspection_ttl,
        )

    async def aclose(self) -> None:
        """Stop the background refresher and close the HTTP client."""
        await self._source.aclose()
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- verification ----------------------------------------------------------

    async def verify_access_token(self, token: str) -> VerifiedToken:
        """Verify an RFC 9068 access token.

        Raises:
            TokenError: any reason the token is not acceptable (UnknownKey when
                its kid is still unknown after a permitted refetch; Revoked when
                introspection says it is no longer active).
            StoreUnavailable: introspection is on and the issuer cannot answer.
        """
        try:
            return await self._verify(token)
        except TokenError as exc:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("token rejected: %s: %s%s", exc.code, exc, self._expected(exc))
            raise

    def _expected(self, exc: TokenError) -> str:
        # Configuration, not token content: what this verifier would have accepted.
        if isinstance(exc, InvalidClaim) and exc.claim == "aud":
            return f" (this verifier expects aud={self.codec.audience!r})"
        if isinstance(exc, InvalidClaim) and exc.claim == "iss":
            return f" (this verifier expects iss={self.codec.issuer!r})"
        return ""

    async def _verify(self, token: str) -> VerifiedToken:
        try:
            verified = self.codec.verify(token)
        except UnknownKey as exc:
            if exc.kid is None or not await self._source.on_unknown_kid():
                raise
            verified = self.codec.verify(token)
        creds = self._introspection_creds
        if creds is not None:
            introspector = self._introspector
            if introspector is None:  # started without keys: discovery not done yet
                if self._source.metadata is None and self._introspection_url is None:
                    raise StoreUnavailable("the introspection endpoint is not known yet")
                introspector = self._introspector = self._make_introspector(creds)
            if not await introspector.is_active(token, verified.jti):
                # Signed, unexpired, inactive: revoked for good (tokens/cache.py).
                cache = self.codec.cache
                if cache is not None:
                    cache.reject(token, "revoked", verified.exp + self.codec.leeway, verified.typ)
                raise Revoked("the issuer reports this token is no longer active (RFC 7662)")
        return verified

    async def refresh(self, *, force: bool = False) -> None:
        """Refetch the key set if it is due (or ``force``); joins a fetch in flight.

        Raises:
            JWKSError: the fetch failed; the last good keys stay in use.
        """
        await self._source.refresh(force=force)

    def status(self) -> VerifierStatus:
        """Readiness (keys loaded) and health (last fetch), with times and last error."""
        return self._source.status()
