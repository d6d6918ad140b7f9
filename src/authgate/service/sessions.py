"""Login, refresh with rotation and reuse detection, logout and RFC 7009 revocation.

RFC 9700 §4.14.2: refresh tokens are sender-unconstrained, so each is single-use.
It is consumed by a compare-and-set (``UPDATE … WHERE used_at IS NULL``): of N
concurrent refreshes exactly one wins. A consumed token that comes back within
``sessions.reuse_grace`` seconds (a client that lost a race or a response) gets
``InvalidGrant`` and the session lives on; after the window it is taken as a replay
by an attacker: the whole session — refresh tokens and access tokens (by ``sid``) —
is ended and ``RefreshReuse`` is raised.
"""

from __future__ import annotations

import unicodedata
from typing import Any, NoReturn

from authgate.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    RateLimited,
    RefreshReuse,
    TokenError,
)
from authgate.service._core import hash_refresh_token, new_refresh_token
from authgate.service.audit import audit
from authgate.service.revocation import KIND_JTI, RevocationEvent
from authgate.service.rotation import RotationOps
from authgate.service.throttle import Attempt
from authgate.service.types import ClientInfo, TokenPair
from authgate.service.users import new_id, normalize_username, parse_scope
from authgate.store.statements import (
    TOKEN_BY_HASH,
    USER_BY_KEY,
)
from authgate.tokens import MAX_TOKEN_LENGTH, VerifiedToken
from authgate.tokens.claims import MAX_LEEWAY

__all__ = ["SessionOps"]


def _account(username: object) -> tuple[str, str | None]:
    """(throttle account, lookup key or None when no user can have this name)."""
    if not isinstance(username, str) or len(username) > 1024:
        raise InvalidRequest("username is missing or too long")
    try:
        _, key = normalize_username(username)
    except InvalidRequest:
        return unicodedata.normalize("NFKC", username).casefold(), None
    return key, key


class SessionOps(RotationOps):
    async def login(
        self, username: str, password: str, *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """Password login (first-party only, SECURITY.md A.5).

        Unknown user, wrong password and disabled account cost exactly one hash
        verification each and raise the same error (OWASP Authentication CS, A.5 #37).
        The attempt is reserved with the throttle before the hash, so a blocked or
        busy account is refused even with the right password, and a burst cannot
        outrun the count (A.5 #38, A.7 #47). A scope the user lacks is judged after
        the password and counts as a failure: no free password oracle (A.7 #54).
        The session is created only if the user's credential version and status are
        still those the password was checked against (A.7 #48).
        """
        if not isinstance(password, str):
            raise InvalidRequest("password is required")
        self.hasher.check_length(password)
        account, key = _account(username)
        requested = parse_scope(scope)
        now = self.clock.now()
        try:
            attempt = await self.throttle.reserve(account, client.ip)
        except RateLimited:
            await self.failure_audit.record("login_throttled", now=now, ip=client.ip)
            raise
        async with attempt:
            row = None
            if key is not None:
                row = await self._read_blocking(
                    lambda c: c.execute(USER_BY_KEY, {"key": key}).first()
                )
            new_hash: str | None = None
            if row is None:
                await self.hasher.verify_dummy(password)
                ok, reason = False, "unknown_user"
            else:
                ok, new_hash = await self.hasher.verify(password, row.password_hash)
                reason = "bad_password"
                if ok and row.disabled:
                    ok, reason = False, "disabled"
            if not ok:
                await self._login_failed(attempt, row, now, client, reason)
                raise InvalidCredentials("invalid username or password")
            assert row is not None
            allowed = frozenset(row.scopes.split())
            granted = allowed if requested is None else requested & allowed
            if requested and not granted:
                await self._login_failed(attempt, row, now, client, "invalid_scope")
                raise InvalidScope("none of the requested scopes is allowed for this user")
            refresh, digest = new_refresh_token()
            sid = new_id()
            opened = await self._write_blocking(
                lambda c: self._open_session(c, row, sid, digest, granted, new_hash, now, client)
            )
            if not opened:  # a password change, disable or logout-all came first
                await self._login_failed(attempt, row, now, client, "credentials_changed")
                raise InvalidCredentials("invalid username or password")
            await attempt.succeeded()
        return self._pair(row.id, sid, granted, refresh, row.credential_version)

    async def _login_failed(
        self, attempt: Attempt, row: Any, now: float, client: ClientInfo, reason: str
    ) -> None:
        await attempt.failed()
        async with self._write() as conn:
            await audit(
                conn,
                "login_failed",
                now=now,
                user_id=row.id if row is not None else None,
                ip=client.ip,
                reason=reason,
            )

    async def refresh(
        self, refresh_token: str, *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """Rotate ``refresh_token`` (RFC 6749 §6, RFC 9700 §4.14.2).

        The session's scope is kept; a narrower one may be asked for, a broader one
        is ``InvalidScope`` (RFC 6749 §6). Rotation moves the idle expiry, never the
        absolute one.
        """
        now = self.clock.now()
        try:
            digest = self._require_hash(refresh_token)
            requested = parse_scope(scope)
            new_token, new_digest = new_refresh_token()
            row, granted = await self._write_blocking(
                lambda conn: self._rotate(conn, digest, new_digest, requested, now, client.ip)
            )
            if granted is None:  # already used: a lost race, a retry, or a replay
                await self._reused(row, now, client)
        except RefreshReuse:
            raise  # audited as refresh_reuse
        except InvalidGrant as exc:
            # A.6 #45: unknown, expired, ended or in-grace reuse; never the token itself.
            # A.7 #53: rows bounded per IP and window, the rest counted.
            await self.failure_audit.record(
                "refresh_failed", now=now, ip=client.ip, reason=exc.message
            )
            raise
        return self._pair(row.user_id, row.session_id, granted, new_token, row.credential_version)

    async def _reused(self, row: Any, now: float, client: ClientInfo) -> NoReturn:
        if row.ended_at is not None or now - row.used_at <= self.settings.sessions.reuse_grace:
            raise InvalidGrant("refresh token already used")
        async with self._write() as conn:
            events = await self._end_sessions(
                conn, user_id=row.user_id, only=row.session_id, reason="refresh_reuse"
            )
            await audit(
                conn,
                "refresh_reuse",
                now=now,
                user_id=row.user_id,
                session_id=row.session_id,
                ip=client.ip,
                used_at=row.used_at,
            )
        await self.sync.emit(events)
        raise RefreshReuse("refresh token reuse: the session has been ended")

    async def logout(self, token: VerifiedToken) -> None:
        """End the token's session and deny its ``jti`` until it expires."""
        now = self.clock.now()
        deny = RevocationEvent(KIND_JTI, token.jti, now, token.exp + MAX_LEEWAY)
        async with self._write() as conn:
            await self._log(conn, [deny])
            events = [deny]
            if token.sid is not None:
                events += await self._end_sessions(
                    conn, user_id=token.sub, only=token.sid, reason="logout"
                )
            await audit(conn, "logout", now=now, user_id=token.sub, session_id=token.sid)
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
        now = self.clock.now()
        deny = RevocationEvent(KIND_JTI, verified.jti, now, verified.exp + MAX_LEEWAY)
        async with self._write() as conn:
            await self._log(conn, [deny])
            await audit(
                conn,
                "revoke",
                now=now,
                user_id=verified.sub,
                session_id=verified.sid,
                token_type="access_token",
            )
        await self.sync.emit([deny])
        return True

    async def _revoke_refresh(self, token: str) -> bool:
        digest = hash_refresh_token(token)
        if digest is None:
            return False
        async with self._read() as conn:
            row = (await conn.execute(TOKEN_BY_HASH, {"hash": digest})).first()
        if row is None:
            return False
        now = self.clock.now()
        async with self._write() as conn:
            events = await self._end_sessions(
                conn, user_id=row.user_id, only=row.session_id, reason="revoked"
            )
            await audit(
                conn,
                "revoke",
                now=now,
                user_id=row.user_id,
                session_id=row.session_id,
                token_type="refresh_token",
            )
        await self.sync.emit(events)
        return True
