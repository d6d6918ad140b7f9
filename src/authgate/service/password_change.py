"""Changing a password: the current-password check behind the login throttle, then
a new hash and global invalidation (SECURITY.md A.4 #33, A.5 #38, A.6 #45).

``change_password(..., current_session=sid)`` keeps that session alive but gives it
a **new id**: its refresh-token family moves to the new session, and the old id is
ended like every other session. So every access token issued before the change
fails (even the caller's own, even within the same second), the caller's refresh
token still works, and access tokens refreshed from it carry the new ``sid``.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.errors import InvalidCredentials, InvalidRequest, RateLimited
from authgate.service._core import ServiceCore
from authgate.service.audit import audit
from authgate.service.revocation import KIND_SUB, RevocationEvent
from authgate.service.types import ClientInfo
from authgate.service.users import new_id
from authgate.store.schema import refresh_tokens, sessions, users

__all__ = ["PasswordChangeOps"]


class PasswordChangeOps(ServiceCore):
    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        current_session: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Check the current password, store the new one, end every other session.

        The current-password check is a login in disguise, so it goes through the
        login throttle: same account key (the normalised username) and the
        ``client`` IP, checked before any hashing (A.5 #38, ASVS 5.0 6.3.1). A
        wrong password counts as a failed login and is audited as
        ``password_change_failed`` (A.6 #45).

        Raises:
            InvalidCredentials: unknown or disabled user, or a wrong current password.
            RateLimited: too many failures for the account or the IP.
            PasswordRejected: the new password fails the policy.
        """
        if not isinstance(current_password, str) or not isinstance(new_password, str):
            raise InvalidRequest("passwords are required")
        self.hasher.check_length(current_password)
        async with self._read() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        account = row.username_key if row is not None else f"user-id:{user_id}"
        ip = client.ip if client is not None else None
        now = self.clock.now()
        try:
            await self.throttle.check(account, ip)
        except RateLimited:
            await self._password_change_failed(user_id, ip, now, "throttled")
            raise
        if row is None or row.disabled:
            await self.hasher.verify_dummy(current_password)
            ok, reason = False, "unknown_user" if row is None else "disabled"
        else:
            ok, _ = await self.hasher.verify(current_password, row.password_hash)
            reason = "bad_password"
        if not ok:
            await self.throttle.record_failure(account, ip)
            await self._password_change_failed(user_id, ip, now, reason)
            raise InvalidCredentials("invalid username or password")
        assert row is not None
        await self.throttle.reset(account)
        self.hasher.check_length(new_password)
        self.hasher.check_policy(new_password, username=row.username)
        new_hash = await self.hasher.hash(new_password)
        now = self.clock.now()
        async with self._write() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(password_hash=new_hash, tokens_valid_after=now)
            )
            cut = RevocationEvent(KIND_SUB, user_id, now, now + self.horizon)
            await self._log(conn, [cut])
            keep = None
            if current_session is not None:
                keep = await self._rekey(conn, user_id, current_session, now)
            ended = await self._end_sessions(
                conn, user_id=user_id, keep=keep, reason="password_changed"
            )
            await audit(conn, "password_changed", now=now, user_id=user_id, session_id=keep)
        await self.sync.emit([cut, *ended])

    async def _password_change_failed(
        self, user_id: str, ip: str | None, now: float, reason: str
    ) -> None:
        async with self._write() as conn:
            await audit(
                conn,
                "password_change_failed",
                now=now,
                user_id=user_id,
                ip=ip,
                reason=reason,
            )

    async def _rekey(self, conn: AsyncConnection, user_id: str, sid: str, now: float) -> str | None:
        """Copy the active session ``sid`` under a new id and move its refresh tokens."""
        row = (
            await conn.execute(
                select(sessions).where(
                    sessions.c.id == sid,
                    sessions.c.user_id == user_id,
                    sessions.c.ended_at.is_(None),
                    sessions.c.idle_expires_at > now,
                    sessions.c.absolute_expires_at > now,
                )
            )
        ).first()
        if row is None:
            return None
        new_sid = new_id()
        values = dict(row._mapping)
        values["id"] = new_sid
        await conn.execute(insert(sessions).values(**values))
        await conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.session_id == sid)
            .values(session_id=new_sid)
        )
        return new_sid
