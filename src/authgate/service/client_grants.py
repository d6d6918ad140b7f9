"""Grants for authenticated clients: ``client_credentials`` (RFC 6749 §4.4) and token
exchange (RFC 8693), plus introspection and revocation on a client's behalf
(RFC 7662 §2.1, RFC 7009 §2.1). None issues a refresh token (RFC 6749 §4.4.3).
"""

from __future__ import annotations

from typing import Any

from authgate.clock import Clock
from authgate.domain import Api, IssuedToken, RegisteredClient
from authgate.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    TokenError,
    UnauthorizedClient,
)
from authgate.service.logouts import Logouts
from authgate.service.registry import CLIENT_CREDENTIALS, OWN_SCOPES, TOKEN_EXCHANGE
from authgate.service.resources import Resources, narrow
from authgate.service.revocation import GENERATION_CLAIM
from authgate.service.users import parse_scope
from authgate.settings import Settings
from authgate.tokens import MAX_TOKEN_LENGTH, TokenCodec, VerifiedToken, decode_unverified

__all__ = ["ACCESS_TOKEN_TYPE_URI", "ClientGrants"]

#: RFC 8693 §3: the token type identifier of an access token.
ACCESS_TOKEN_TYPE_URI = "urn:ietf:params:oauth:token-type:access_token"


def _scopes_for(
    client: RegisteredClient, scope: str | None, base: frozenset[str]
) -> frozenset[str]:
    """The scopes asked for within ``base`` (all of ``base`` when none are asked).

    Raises:
        InvalidScope: a scope outside ``base``, or nothing left.
    """
    requested = parse_scope(scope)
    if requested is None:
        granted = base
    elif requested <= base:
        granted = requested
    else:
        raise InvalidScope("a requested scope is not allowed for this client")
    if not granted:
        raise InvalidScope("no scope is allowed for this client and subject")
    return granted


class ClientGrants:
    def __init__(
        self,
        *,
        settings: Settings,
        codec: TokenCodec,
        resources: Resources,
        logouts: Logouts,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.resources = resources
        self.logouts = logouts
        self.clock = clock

    def _may(self, client: RegisteredClient, grant: str) -> None:
        if grant not in client.grants:
            raise UnauthorizedClient("this client may not use this grant type")

    def _scoped(self, target: Api | None, scopes: frozenset[str]) -> tuple[str, frozenset[str]]:
        if target is None:  # authgate's own audience: authgate's own scopes only
            kept = scopes & OWN_SCOPES
            if not kept:
                raise InvalidScope("no scope is defined for this resource")
            return self.settings.audience, kept
        return target.audience, narrow(scopes, target)

    async def client_credentials(
        self, client: RegisteredClient, *, scope: str | None, resource: str | None
    ) -> IssuedToken:
        """RFC 6749 §4.4: a token for the client itself (``sub`` = client_id).

        Raises: UnauthorizedClient, InvalidScope, InvalidTarget.
        """
        self._may(client, CLIENT_CREDENTIALS)
        wanted = _scopes_for(client, scope, client.scopes)
        target = await self.resources.for_client(client, resource, wanted)
        audience, granted = self._scoped(target, wanted)
        ttl = self.settings.access_token_ttl
        token, _ = self.codec.issue(
            sub=client.client_id,
            ttl=ttl,
            client_id=client.client_id,
            scope=granted,
            audience=audience,
        )
        return IssuedToken(token, ttl, granted)

    async def verify_any(self, token: str) -> VerifiedToken:
        """Verify an access token minted for authgate or for any registered API
        (signature, claims, revocation).

        Raises:
            TokenError: not a currently valid access token of ours.
        """
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidGrant("the token is too long")
        _, claims = decode_unverified(token)
        aud = claims.get("aud")
        known = {self.settings.audience, *(a.audience for a in await self.resources.apis())}
        if type(aud) is not str or aud not in known:
            return self.codec.verify(token)  # refused with the codec's own reason
        return self.codec.verify_for(token, aud)

    async def exchange(
        self,
        client: RegisteredClient,
        *,
        subject_token: str,
        subject_token_type: str,
        scope: str | None,
        resource: str | None,
    ) -> IssuedToken:
        """RFC 8693 §2: a token for ``resource`` on behalf of the subject token's user,
        acting as ``client`` (``act``, §4.1). Scopes ⊆ subject's ∩ client's, expiry
        no later than the subject token's, and its ``sid`` kept so ending the user's
        session ends this token too.

        Raises: UnauthorizedClient, InvalidRequest, InvalidGrant, InvalidScope,
        InvalidTarget.
        """
        self._may(client, TOKEN_EXCHANGE)
        if subject_token_type != ACCESS_TOKEN_TYPE_URI:
            raise InvalidRequest("subject_token_type must be " + ACCESS_TOKEN_TYPE_URI)
        try:
            subject = await self.verify_any(subject_token)
        except TokenError as exc:
            raise InvalidGrant("the subject token is invalid, expired or revoked") from exc
        wanted = _scopes_for(client, scope, subject.scope & client.scopes)
        target = await self.resources.target(resource)
        audience, granted = self._scoped(target, wanted)
        now = int(self.clock.now())
        ttl = min(self.settings.access_token_ttl, int(subject.exp) - now)
        if ttl <= 0:
            raise InvalidGrant("the subject token has expired")
        act: dict[str, Any] = {"sub": client.client_id}
        previous = subject.claims.get("act")
        if isinstance(previous, dict):
            act["act"] = previous
        extra: dict[str, Any] = {"act": act}
        generation = subject.claims.get(GENERATION_CLAIM)
        if type(generation) is int:
            extra[GENERATION_CLAIM] = generation
        token, _ = self.codec.issue(
            sub=subject.sub,
            ttl=ttl,
            client_id=client.client_id,
            scope=granted,
            sid=subject.sid,
            audience=audience,
            extra=extra,
        )
        return IssuedToken(token, ttl, granted, issued_token_type=ACCESS_TOKEN_TYPE_URI)

    async def introspect(self, client: RegisteredClient, token: str) -> dict[str, Any]:
        """RFC 7662 §2.1: a client learns about tokens meant for the APIs it holds
        scopes of; anything else is ``{"active": false}`` (§2.2)."""
        try:
            _, claims = decode_unverified(token)
            aud = claims.get("aud")
            if type(aud) is not str or aud not in await self.resources.audiences_of(client):
                return {"active": False}
            verified = self.codec.verify_for(token, aud)
        except TokenError:
            return {"active": False}
        return await self.logouts.describe(verified)

    async def revoke(self, client: RegisteredClient, token: str) -> None:
        """RFC 7009 §2.1: a client revokes only tokens issued to it; anything else
        is ignored with the same 200 (§2.2)."""
        try:
            verified = await self.verify_any(token)
        except (TokenError, InvalidGrant):
            return
        if verified.client_id == client.client_id:
            await self.logouts.revoke_verified(verified)
