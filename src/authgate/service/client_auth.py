"""Client authentication at the token, revocation and introspection endpoints
(RFC 6749 §2.3.1, RFC 7521 §4.2 / §5.2, RFC 7523 §2.2 / §3; SECURITY.md A.7 #55).

One method per request, and it must be the client's registered one:
``client_secret_basic`` / ``client_secret_post`` (the secret's SHA-256 compared with
``hmac.compare_digest``) or ``private_key_jwt`` (:mod:`authgate.tokens.assertion`,
then its ``jti`` recorded once, atomically, until ``exp``).

Like a password login (A.5 #38, A.7 #47) the attempt is reserved with the throttle,
per client and per IP, before the secret or the signature is checked, and a failure
is counted and audited. Every failure is the same :class:`InvalidClient`.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass

from authgate.clock import Clock
from authgate.domain import ClientInfo, RegisteredClient
from authgate.errors import AuthError, InvalidClient, RateLimited, TokenError
from authgate.service.audit_limit import FailureAudit
from authgate.service.client_jwks import ClientKeyCache, JwksFetcher
from authgate.service.registry import load_client_jwks, secret_digest
from authgate.service.throttle import LoginThrottle
from authgate.store.protocols import ReplayStore, Store
from authgate.tokens import KeyRing, decode_unverified
from authgate.tokens.assertion import verify_assertion

__all__ = ["CLIENT_TTL", "JWT_BEARER", "ClientAuthenticator", "ClientCredentials", "JwksFetcher"]

#: RFC 7523 §2.2: ``client_assertion_type``.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Seconds a registered client's row is reused by the token endpoint (one database read
#: per request costs most of its time, BENCHMARKS.md). Changes through this service
#: apply at once (:meth:`ClientAuthenticator.forget`); another process's (``authgate
#: clients rotate-secret`` / ``delete``) within this long. Tokens issued before a
#: rotation stay valid until they expire anyway, so the delay grants nothing new.
CLIENT_TTL = 1.0


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What one request presented, already parsed from HTTP (exactly one method)."""

    method: str
    client_id: str
    secret: str | None = None
    assertion: str | None = None

    @property
    def basic(self) -> bool:
        return self.method == "client_secret_basic"


def assertion_client_id(assertion: str) -> str | None:
    """The ``sub`` an assertion names (RFC 7521 §4.2: ``client_id`` is optional),
    read unverified only to know which client's keys to try."""
    try:
        _, claims = decode_unverified(assertion)
    except TokenError:
        return None
    sub = claims.get("sub")
    return sub if type(sub) is str and 0 < len(sub) <= 64 else None


class ClientAuthenticator:
    def __init__(
        self,
        db: Store,
        *,
        clock: Clock,
        throttle: LoginThrottle,
        failure_audit: FailureAudit,
        replay: ReplayStore,
        issuer: str,
        leeway: float,
        fetch_jwks: JwksFetcher | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.throttle = throttle
        self.failure_audit = failure_audit
        self.replay = replay
        self.issuer = issuer
        self.leeway = leeway
        self.fetched_keys = None if fetch_jwks is None else ClientKeyCache(fetch_jwks, clock=clock)
        self._clients: dict[str, tuple[float, RegisteredClient]] = {}

    async def authenticate(
        self, creds: ClientCredentials, caller: ClientInfo, *, endpoints: Collection[str]
    ) -> RegisteredClient:
        """The authenticated client. ``endpoints``: the URLs an assertion's ``aud`` may
        name besides the issuer (RFC 7523 §3 item 3: the token endpoint; the endpoint
        called).

        Raises:
            InvalidClient: unknown client, wrong method, secret, key or claims, replay.
            RateLimited: the client or the IP is throttled.
        """
        now = self.clock.now()
        # Looked up before the reservation, so the client's lease is held only
        # across the check itself (a busy service is not made to wait on the database).
        client = await self._client(creds.client_id, now)
        try:
            attempt = await self.throttle.reserve(f"client:{creds.client_id}", caller.ip)
        except RateLimited:
            await self.failure_audit.record("client_throttled", now=now, ip=caller.ip)
            raise
        async with attempt:
            audiences = frozenset({self.issuer, *endpoints})
            reason = await self._check(client, creds, now, audiences)
            if reason is not None:
                await attempt.failed()
                await self.failure_audit.record(
                    "client_auth_failed", now=now, ip=caller.ip, reason=reason
                )
                raise InvalidClient(basic=creds.basic)
            await attempt.succeeded()
        assert client is not None
        return client

    def forget(self) -> None:
        """Drop the remembered clients (the registry changed in this process)."""
        self._clients.clear()
        if self.fetched_keys is not None:
            self.fetched_keys.forget()

    async def _client(self, client_id: str, now: float) -> RegisteredClient | None:
        """The registered client, remembered for :data:`CLIENT_TTL` seconds. Only
        registered clients are remembered, so unknown ids cannot grow the map."""
        hit = self._clients.get(client_id)
        if hit is not None and 0 <= now - hit[0] < CLIENT_TTL:
            return hit[1]
        async with self.db.read() as tx:
            client = await tx.registry.client(client_id)
        if client is None:
            self._clients.pop(client_id, None)
        else:
            self._clients[client_id] = (now, client)
        return client

    async def _check(
        self,
        client: RegisteredClient | None,
        creds: ClientCredentials,
        now: float,
        audiences: frozenset[str],
    ) -> str | None:
        """None when the credentials prove ``client``, else why not (for the audit)."""
        if client is None:
            return "unknown_client"
        if creds.method != client.auth_method:
            return "wrong_method"
        if creds.secret is not None:
            stored = client.secret_digest or b""
            ok = hmac.compare_digest(secret_digest(creds.secret), stored)
            return None if ok and stored else "bad_secret"
        assert creds.assertion is not None
        try:
            ring = await self._keys(client, creds.assertion)
            verified = verify_assertion(
                creds.assertion,
                ring,
                client_id=client.client_id,
                audiences=audiences,
                now=now,
                leeway=self.leeway,
            )
        except TokenError as exc:
            return f"bad_assertion:{exc.code}"
        except AuthError:
            return "client_keys_unusable"
        fresh = await self.replay.consume(client.client_id, verified.jti, verified.exp, now)
        return None if fresh else "assertion_replay"

    async def _keys(self, client: RegisteredClient, assertion: str) -> KeyRing:
        if client.jwks is not None:
            return load_client_jwks(client.jwks)
        if client.jwks_uri is None or self.fetched_keys is None:
            raise InvalidClient("no keys for this client")
        header, _ = decode_unverified(assertion)  # which key, to refetch on a new kid
        kid = header.get("kid")
        kid = kid if type(kid) is str else None
        return await self.fetched_keys.ring(client.client_id, client.jwks_uri, kid)
