"""Refresh with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2).

Refresh tokens are sender-unconstrained, so each is single-use. It is consumed by a
compare-and-set (``UPDATE … WHERE used_at IS NULL``): of N concurrent refreshes
exactly one wins. A consumed token that comes back within ``sessions.reuse_grace``
seconds (a client that lost a race or a response) gets ``InvalidGrant`` and the
session lives on; after the window it is taken as a replay by an attacker: the
whole session — refresh tokens and access tokens (by ``sid``) — is ended and
``RefreshReuse`` is raised.
"""

from __future__ import annotations

from typing import NoReturn

from authgate.clock import Clock
from authgate.domain import Api, ClientInfo, RefreshRecord, TokenPair
from authgate.errors import InvalidGrant, InvalidScope, RefreshReuse
from authgate.service.audit import audit, log_event
from authgate.service.audit_limit import FailureAudit
from authgate.service.endings import Endings
from authgate.service.issuer import TokenIssuer, new_refresh_token, require_hash
from authgate.service.resources import narrow
from authgate.service.sync import RevocationSync
from authgate.service.users import parse_scope
from authgate.settings import SessionSettings
from authgate.store.protocols import Store

__all__ = ["Refreshes", "refresh_scope"]


def refresh_scope(
    token: RefreshRecord, requested: frozenset[str] | None, now: float
) -> frozenset[str]:
    """The scope to grant, or InvalidGrant / InvalidScope. The session's scope is
    kept; a narrower one may be asked for, a broader one is refused (RFC 6749 §6)."""
    if token.ended_at is not None or token.disabled:
        raise InvalidGrant("the session has ended")
    if now >= token.idle_expires_at or now >= token.absolute_expires_at:
        raise InvalidGrant("the session has expired")
    session_scope = frozenset(token.scope.split()) & frozenset(token.user_scopes.split())
    if requested is None:
        return session_scope
    if requested <= session_scope:
        return requested
    raise InvalidScope("refresh cannot broaden the scope (RFC 6749 §6)")


class Refreshes:
    def __init__(
        self,
        db: Store,
        *,
        sessions: SessionSettings,
        clock: Clock,
        issuer: TokenIssuer,
        endings: Endings,
        sync: RevocationSync,
        failure_audit: FailureAudit,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock
        self.issuer = issuer
        self.endings = endings
        self.sync = sync
        self.failure_audit = failure_audit

    async def refresh(
        self,
        refresh_token: str,
        *,
        scope: str | None,
        client: ClientInfo,
        target: Api | None = None,
    ) -> TokenPair:
        """Rotate ``refresh_token``. Rotation moves the idle expiry, never the
        absolute one."""
        now = self.clock.now()
        try:
            digest = require_hash(refresh_token)
            requested = parse_scope(scope)
            new_token, new_digest = new_refresh_token()
            idle_ttl = self.sessions.idle_ttl
            token, granted = await self.db.run_write(
                lambda w: w.rotate(
                    digest,
                    new_digest,
                    now=now,
                    idle_ttl=idle_ttl,
                    ip=client.ip,
                    # RFC 8707 §2: judged before the token is consumed.
                    check=lambda t: narrow(refresh_scope(t, requested, now), target),
                )
            )
            if granted is None:  # already used: a lost race, a retry, or a replay
                await self._reused(token, now, client)
        except RefreshReuse:
            raise  # audited as refresh_reuse
        except InvalidGrant as exc:
            # A.6 #45: unknown, expired, ended or in-grace reuse; never the token itself.
            # A.7 #53: rows bounded per IP and window, the rest counted.
            await self.failure_audit.record(
                "refresh_failed", now=now, ip=client.ip, reason=exc.message
            )
            raise
        log_event("refresh", user_id=token.user_id, session_id=token.session_id, ip=client.ip)
        return self.issuer.pair(
            token.user_id,
            token.session_id,
            granted,
            new_token,
            token.credential_version,
            audience=None if target is None else target.audience,
            amr=tuple(token.amr.split()),
        )

    async def _reused(self, token: RefreshRecord, now: float, client: ClientInfo) -> NoReturn:
        assert token.used_at is not None
        if token.ended_at is not None or now - token.used_at <= self.sessions.reuse_grace:
            raise InvalidGrant("refresh token already used")
        async with self.db.write() as tx:
            events = await self.endings.end_sessions(
                tx, user_id=token.user_id, only=token.session_id, reason="refresh_reuse"
            )
            await audit(
                tx,
                "refresh_reuse",
                now=now,
                user_id=token.user_id,
                session_id=token.session_id,
                ip=client.ip,
                used_at=token.used_at,
            )
        await self.sync.emit(events)
        raise RefreshReuse("refresh token reuse: the session has been ended")
