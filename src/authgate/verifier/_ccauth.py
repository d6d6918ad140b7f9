"""``ClientCredentialsAuth``: a service's own access token on its outgoing calls.

An ``httpx.Auth`` (sync and async) that gets a token with the client credentials
grant (RFC 6749 §4.4) for one API (``resource``, RFC 8707 §2), keeps it, and puts
it on every request as ``Authorization: Bearer`` (RFC 6750 §2.1):

- **one token request however many calls wait**: concurrent calls on one event
  loop share one in-flight request (also under an ``asyncio.gather`` burst);
  threads share one behind a lock;
- **renewed before expiry**: ``renew_margin`` seconds before ``expires_in`` runs
  out (at most half the lifetime), read from the injected clock;
- **one retry on 401**: the resource server may have refused the token (revoked,
  keys rotated); the call is sent once more with a fresh token, never twice;
- **client authentication** (RFC 6749 §2.3.1, RFC 7523 §2.2): ``client_secret_basic``
  (the default; id and secret form-encoded, then Basic), ``client_secret_post``, or
  ``private_key_jwt`` with a private key (a fresh single-use assertion per request,
  ``aud`` the token endpoint URL, one minute of life);
- **bounded**: the token URL must be https (or http to loopback), the answer is read
  under :mod:`authgate.verifier._http`'s caps, redirects are refused, and the secret
  never appears in a ``repr``, a log line or an exception;
- **clear errors**: :class:`~authgate.errors.TokenRequestFailed` with the endpoint's
  RFC 6749 §5.2 ``error`` (``invalid_client``, ``invalid_target``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import threading
import weakref
from collections.abc import AsyncGenerator, Generator, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx

from authgate.clock import Clock, SystemClock
from authgate.errors import ConfigError, JWKSError, TokenRequestFailed
from authgate.tokens import MAX_TOKEN_LENGTH, Key, KeyRing, TokenCodec
from authgate.verifier._http import (
    FetchLimits,
    new_client,
    new_sync_client,
    post_form,
    post_form_sync,
)
from authgate.verifier._urls import check_fetch_url

__all__ = ["ClientCredentialsAuth"]

log = logging.getLogger("authgate.verifier")

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME = 60
#: The token endpoint answers 200, or 400/401 with an RFC 6749 §5.2 error body.
_ANSWERS = frozenset({200, 400, 401})


@dataclass(frozen=True, slots=True)
class _Token:
    header: str  # "Bearer <token>", built once
    renew_at: float


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from the client credentials grant, cached and renewed.

    Args:
        token_url: the authorization server's token endpoint.
        client_id: this service's client id.
        client_secret: its secret (``client_secret_basic``/``_post``).
        private_key: instead of a secret, the private key registered for
            ``private_key_jwt`` (its public JWK in the client's JWK Set).
        assertion_audience: the assertion's ``aud`` (RFC 7523 §3): the token
            endpoint URL as the issuer's metadata names it; ``token_url`` by default.
        resource: the API's audience URI (RFC 8707 §2).
        scope: the scopes to ask for (a space-separated string or an iterable).
        auth_method: ``client_secret_basic`` (default with a secret),
            ``client_secret_post``, or ``private_key_jwt`` (with ``private_key``).
        renew_margin: renew this many seconds before the token expires.
        default_lifetime: how long to keep a token whose answer has no ``expires_in``.
        limits: caps on the token request (time, size).
        clock: the time source (tests inject a frozen clock).

    Raises:
        ConfigError: the URL is refused, or the credentials do not fit the method.
    """

    requires_request_body = True  # the body is sent again on the 401 retry

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        private_key: Key | None = None,
        assertion_audience: str | None = None,
        resource: str | None = None,
        scope: str | Iterable[str] | None = None,
        auth_method: AuthMethod | None = None,
        renew_margin: float = 60.0,
        default_lifetime: float = 300.0,
        limits: FetchLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.token_url = check_fetch_url(token_url, what="the token URL")
        if not client_id:
            raise ConfigError("client_id is required")
        method = auth_method or ("private_key_jwt" if private_key else "client_secret_basic")
        if (method == "private_key_jwt") != (private_key is not None) or (
            private_key is not None and client_secret is not None
        ):
            raise ConfigError("private_key_jwt takes a private_key and no client_secret")
        if method != "private_key_jwt" and not client_secret:
            raise ConfigError(f"{method} needs a client_secret")
        if private_key is not None and (private_key.symmetric or not private_key.has_private):
            raise ConfigError("private_key_jwt needs an asymmetric private key (RFC 7523)")
        if renew_margin < 0 or default_lifetime <= 0:
            raise ConfigError("renew_margin must be >= 0 and default_lifetime > 0")
        self.client_id = client_id
        self.auth_method: AuthMethod = method
        self.resource = resource
        self.scope = scope if scope is None or isinstance(scope, str) else " ".join(scope)
        self.renew_margin = float(renew_margin)
        self.default_lifetime = float(default_lifetime)
        self.limits = limits or FetchLimits()
        self.clock: Clock = clock or SystemClock()
        self._secret = client_secret
        self.assertion_audience = assertion_audience or self.token_url
        self._signer = self._assertion_codec(private_key) if private_key is not None else None
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self._inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[_Token]]
        self._inflight = weakref.WeakKeyDictionary()
        #: Token requests sent (what the single-flight tests count).
        self.requests_sent = 0

    def __repr__(self) -> str:  # never the secret
        return f"<ClientCredentialsAuth {self.client_id!r} at {self.token_url!r}>"

    def _assertion_codec(self, key: Key) -> TokenCodec:
        ring = KeyRing.single(key)
        aud = self.assertion_audience
        return TokenCodec(ring, issuer=self.client_id, audience=aud, clock=self.clock)

    # -- the flows httpx drives --------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        token = self._token  # the hot path: one attribute, one clock read
        if token is None or self.clock.now() >= token.renew_at:
            token = self._fetch_sync(None)
        request.headers["Authorization"] = token.header
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = self._fetch_sync(token).header
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._token
        if token is None or self.clock.now() >= token.renew_at:
            token = await self._fetch_async(None)
        request.headers["Authorization"] = token.header
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = (await self._fetch_async(token)).header
            yield request

    def invalidate(self) -> None:
        """Forget the cached token: the next call fetches a fresh one."""
        self._token = None

    # -- the cache ---------------------------------------------------------------

    def _cached(self, stale: _Token | None = None) -> _Token | None:
        token = self._token
        if token is not None and token is not stale and self.clock.now() < token.renew_at:
            return token
        return None

    def _fetch_sync(self, stale: _Token | None) -> _Token:
        with self._lock:
            token = self._cached(stale)
            if token is not None:
                return token
            form, headers = self._form()
            try:
                with new_sync_client(self.limits) as client:
                    status, document = post_form_sync(
                        client, self.token_url, self.limits, form, headers=headers, accept=_ANSWERS
                    )
            except JWKSError as exc:
                raise TokenRequestFailed(exc.message) from None
            return self._store(self._check(status, document))

    async def _fetch_async(self, stale: _Token | None) -> _Token:
        token = self._cached(stale)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        task = self._inflight.get(loop)
        if task is None or task.done():
            task = loop.create_task(self._request_async())
            task.add_done_callback(_retrieve)
            self._inflight[loop] = task
        # Shielded: a caller that gives up does not cancel the request the others wait on.
        return await asyncio.shield(task)

    async def _request_async(self) -> _Token:
        async with new_client(self.limits) as client:
            form, headers = self._form()
            try:
                status, document = await post_form(
                    client, self.token_url, self.limits, form, headers=headers, accept=_ANSWERS
                )
            except JWKSError as exc:
                raise TokenRequestFailed(exc.message) from None
        return self._store(self._check(status, document))

    # -- the token request -------------------------------------------------------

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        self.requests_sent += 1
        form = {"grant_type": "client_credentials"}
        headers: dict[str, str] = {}
        if self.resource is not None:
            form["resource"] = self.resource
        if self.scope:
            form["scope"] = self.scope
        if self._signer is not None:
            form["client_id"] = self.client_id
            form["client_assertion_type"] = _ASSERTION_TYPE
            form["client_assertion"] = self._assertion(self._signer)
        elif self.auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = str(self._secret)
        else:
            # RFC 6749 §2.3.1: both parts form-encoded before Basic.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(str(self._secret))}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return form, headers

    def _assertion(self, codec: TokenCodec) -> str:
        now = int(self.clock.now())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.assertion_audience,
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(16),
        }
        return codec.encode(claims, typ="JWT")

    def _check(self, status: int, document: dict[str, Any]) -> dict[str, Any]:
        if status != 200:
            error = document.get("error")
            code = error[:64] if isinstance(error, str) else None
            described = document.get("error_description")
            detail = f": {described[:200]}" if isinstance(described, str) else ""
            log.warning("token request for %s refused: %s", self.client_id, code)
            raise TokenRequestFailed(
                f"{self.token_url}: HTTP {status} {code or 'without an OAuth error'}{detail}",
                error=code,
                status=status,
            )
        return document

    def _store(self, document: dict[str, Any]) -> _Token:
        value = document.get("access_token")
        kind = document.get("token_type")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN_LENGTH:
            raise TokenRequestFailed(f"{self.token_url}: the answer has no usable access_token")
        if not value.isascii() or not value.isprintable() or " " in value:
            raise TokenRequestFailed(f"{self.token_url}: the access_token is not a bearer token")
        if not isinstance(kind, str) or kind.lower() != "bearer":  # RFC 6749 §5.1, §7.1
            raise TokenRequestFailed(f"{self.token_url}: token_type is not Bearer")
        lifetime = document.get("expires_in", self.default_lifetime)
        if type(lifetime) not in (int, float) or not 0 < lifetime <= 86_400 * 366:
            raise TokenRequestFailed(f"{self.token_url}: expires_in is not a positive number")
        margin = min(self.renew_margin, lifetime / 2)
        token = _Token("Bearer " + value, self.clock.now() + lifetime - margin)
        self._token = token
        return token


def _retrieve(task: asyncio.Task[_Token]) -> None:
    """Read a failed request's exception even if every waiter has gone."""
    if not task.cancelled():
        task.exception()
