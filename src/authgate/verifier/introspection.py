"""Optional RFC 7662 token introspection, for services that must see a
revocation at once instead of at the token's ``exp``.

The token is verified locally first (signature, claims), so garbage never
reaches the issuer; then the issuer's introspection endpoint is asked whether
it is still active. Answers are cached for a few seconds in a bounded LRU keyed
by the (already verified, hence authentic) ``jti``: a revocation is seen within
``ttl`` seconds. ``{"active": false}`` means Revoked. If the endpoint cannot be
asked, the verifier fails closed with StoreUnavailable (a 503, not a 401: the
token may well be fine).
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from authgate.clock import Clock
from authgate.errors import JWKSError, StoreUnavailable
from authgate.verifier._http import FetchLimits, fetch_json
from authgate.verifier._urls import check_fetch_url

__all__ = ["BearerCredentials", "ClientCredentials", "Introspector"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """RFC 7662 §2.1 client authentication with HTTP Basic (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)

    def header(self) -> str:
        # RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    """RFC 7662 §2.1: an access token with the introspection scope."""

    token: str = field(repr=False)

    def header(self) -> str:
        return "Bearer " + self.token


class Introspector:
    """Asks ``endpoint`` whether a token is active; caches answers ``ttl`` seconds."""

    def __init__(
        self,
        endpoint: str,
        credentials: ClientCredentials | BearerCredentials,
        *,
        client: httpx.AsyncClient,
        limits: FetchLimits,
        clock: Clock,
        ttl: float = 5.0,
        maxsize: int = 1024,
    ) -> None:
        self.endpoint = check_fetch_url(endpoint, what="introspection endpoint")
        self._credentials = credentials
        self._client = client
        self._limits = limits
        self._clock = clock
        self._ttl = float(ttl)
        self._maxsize = maxsize
        self._answers: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[bool]] = {}

    async def is_active(self, token: str, jti: str) -> bool:
        """The issuer's current verdict on ``token`` (cached by ``jti``; concurrent
        callers for one ``jti`` share a single request).

        Raises:
            StoreUnavailable: the endpoint did not give a valid RFC 7662 answer.
        """
        cached = self._answers.get(jti)
        if cached is not None and self._clock.now() < cached[0]:
            self._answers.move_to_end(jti)
            return cached[1]
        pending = self._pending.get(jti)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._ask(token, jti))
            self._pending[jti] = pending
            pending.add_done_callback(self._done)
        return await asyncio.shield(pending)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._pending = {j: t for j, t in self._pending.items() if t is not task}
        if not task.cancelled():
            task.exception()  # retrieved: a failure no waiter saw is not logged as lost

    async def _ask(self, token: str, jti: str) -> bool:
        try:
            fetched = await fetch_json(
                self._client,
                self.endpoint,
                self._limits,
                form={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._credentials.header()},
            )
        except JWKSError as exc:
            raise StoreUnavailable(f"token introspection failed: {exc.message}") from exc
        active = fetched.document.get("active")
        if type(active) is not bool:
            raise StoreUnavailable('token introspection answer has no boolean "active" (RFC 7662)')
        self._answers[jti] = (self._clock.now() + self._ttl, active)
        self._answers.move_to_end(jti)
        if len(self._answers) > self._maxsize:
            self._answers.popitem(last=False)
        return active
