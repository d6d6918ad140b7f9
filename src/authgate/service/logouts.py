"""Logout, RFC 7009 revocation and RFC 7662 introspection."""

from __future__ import annotations

from typing import Any

from authgate.clock import Clock
from authgate.domain import RefreshRecord
from authgate.errors import TokenError
from authgate.service.audit import audit
from authgate.service.endings import Endings
from authgate.service.issuer import hash_refresh_token
from authgate.service.revocation import KIND_JTI, RevocationEvent
from authgate.service.sync import RevocationSync
from authgate.service.users import scope_text
from authgate.settings import Settings
from authgate.store.protocols import Store
from authgate.tokens import MAX_TOKEN_LENGTH, TokenCodec, VerifiedToken
from authgate.tokens.claims import MAX_LEEWAY

__all__ = ["Logouts"]


class Logouts:
    def __init__(
        self,
        db: Store,
        *,
        settings: Settings,
        clock: Clock,
        codec: TokenCodec,
        endings: Endings,
        sync: RevocationSync,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.codec = codec
        self.endings = endings
        self.sync = sync

    async def logout(self, token: VerifiedToken) -> None:
        """End the token's session and deny its ``jti`` until it expires."""
        now = self.clock.now()
        deny = RevocationEvent(KIND_JTI, token.jti, now, token.exp + MAX_LEEWAY)
        async with self.db.write() as tx:
            await self.endings.log(tx, [deny])
            events = [deny]
            if token.sid is not None:
                events += await self.endings.end_sessions(
                    tx, user_id=token.sub, only=token.sid, reason="logout"
                )
            await audit(tx, "logout", now=now, user_id=token.sub, session_id=token.sid)
        await self.sync.emit(events)

    async def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """RFC 7009 §2.1: revoke an access or a refresh token. The hint only picks
        which kind is tried first (§2.1: a wrong hint still works); unknown, expired
        or garbage tokens are not an error (§2.2)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return
        if token_type_hint == "refresh_token":
            if not await self._revoke_refresh(token):
                await self._revoke_access(token)
        elif not await self._revoke_access(token):
            await self._revoke_refresh(token)

    async def _revoke_access(self, token: str) -> bool:
        try:
            verified = self.codec.verify(token)
        except TokenError:
            return False
        if verified.client_id != self.settings.client_id:
            # RFC 7009 §2.1: a registered client's token is revoked by that client,
            # authenticated (ClientGrants.revoke), not by whoever holds it.
            return True
        await self.revoke_verified(verified)
        return True

    async def revoke_verified(self, verified: VerifiedToken) -> None:
        """Deny a verified access token's ``jti`` until it expires."""
        now = self.clock.now()
        deny = RevocationEvent(KIND_JTI, verified.jti, now, verified.exp + MAX_LEEWAY)
        async with self.db.write() as tx:
            await self.endings.log(tx, [deny])
            await audit(
                tx,
                "revoke",
                now=now,
                user_id=verified.sub,
                session_id=verified.sid,
                token_type="access_token",
            )
        await self.sync.emit([deny])

    async def _token(self, token: str) -> RefreshRecord | None:
        digest = hash_refresh_token(token)
        if digest is None:
            return None
        async with self.db.read() as tx:
            return await tx.sessions.token(digest)

    async def _revoke_refresh(self, token: str) -> bool:
        row = await self._token(token)
        if row is None:
            return False
        now = self.clock.now()
        async with self.db.write() as tx:
            events = await self.endings.end_sessions(
                tx, user_id=row.user_id, only=row.session_id, reason="revoked"
            )
            await audit(
                tx,
                "revoke",
                now=now,
                user_id=row.user_id,
                session_id=row.session_id,
                token_type="refresh_token",
            )
        await self.sync.emit(events)
        return True

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": false}`` for anything not currently valid."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return {"active": False}
        try:
            verified = self.codec.verify(token)
        except TokenError:
            return await self._introspect_refresh(token)
        return await self.describe(verified)

    async def describe(self, verified: VerifiedToken) -> dict[str, Any]:
        """RFC 7662 §2.2: the answer for a verified access token."""
        username = None
        if verified.sub != verified.client_id:  # a client's own token has no user
            async with self.db.read() as tx:
                username = await tx.users.username(verified.sub)
            if username is None:
                return {"active": False}
        claims = verified.claims
        answer: dict[str, Any] = {
            "active": True,
            "scope": scope_text(verified.scope),
            "client_id": verified.client_id,
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": verified.sub,
            "aud": claims["aud"],
            "iss": claims["iss"],
            "jti": verified.jti,
        }
        if username is not None:
            answer["username"] = username
        if verified.sid is not None:
            answer["sid"] = verified.sid
        if "act" in claims:
            answer["act"] = claims["act"]
        return answer

    async def _introspect_refresh(self, token: str) -> dict[str, Any]:
        row = await self._token(token)
        now = self.clock.now()
        if (
            row is None
            or row.used_at is not None
            or row.ended_at is not None
            or row.disabled
            or now >= row.idle_expires_at
            or now >= row.absolute_expires_at
        ):
            return {"active": False}
        return {
            "active": True,
            "scope": scope_text(frozenset(row.scope.split()) & frozenset(row.user_scopes.split())),
            "client_id": self.settings.client_id,
            "username": row.username,
            "token_type": "refresh_token",
            "exp": int(min(row.idle_expires_at, row.absolute_expires_at)),
            "iat": int(row.issued_at),
            "sub": row.user_id,
            "aud": self.settings.audience,
            "iss": self.settings.issuer,
            "sid": row.session_id,
        }
