"""Users and their sessions: registration, admin, password change, sign-out everywhere.

Global invalidation (SECURITY.md A.4 #33, A.7 #48, ASVS 5.0 7.4.2–7.4.5):
``logout_all``, ``change_password`` and ``disable_user`` bump the user's credential
version, set ``tokens_valid_after`` = now and end the user's sessions, in one
transaction; see :mod:`authgate.service.revocation` for how tokens are cut off.

The password change itself is in :mod:`authgate.service.password_change`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.errors import (
    InvalidRequest,
    NotFound,
    RateLimited,
    StoreUnavailable,
    UsernameTaken,
)
from authgate.service.audit import audit
from authgate.service.password_change import PasswordChangeOps
from authgate.service.types import ClientInfo, SessionInfo, User
from authgate.service.users import (
    new_id,
    normalize_username,
    parse_scope,
    row_to_user,
    scope_text,
)
from authgate.store.schema import sessions, users

__all__ = ["AccountOps"]


def _check_email(email: object) -> str | None:
    if email is None:
        return None
    if (
        not isinstance(email, str)
        or not 3 <= len(email) <= 320
        or "@" not in email
        or any(c.isspace() or ord(c) < 32 for c in email)
    ):
        raise InvalidRequest("email is not valid")
    return email


class AccountOps(PasswordChangeOps):
    async def register(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        scopes: Iterable[str] | None = None,
        client: ClientInfo | None = None,
    ) -> User:
        """Create a user. With a ``client`` IP, sign-ups per address are limited
        (``throttle.registrations_per_ip_per_hour``): each costs an Argon2 hash.

        Raises:
            UsernameTaken, PasswordRejected, InvalidRequest, RateLimited.
        """
        display, key = normalize_username(username)
        if not isinstance(password, str):
            raise InvalidRequest("password is required")
        self.hasher.check_length(password)
        self.hasher.check_policy(password, username=display)
        mail = _check_email(email)
        granted = parse_scope(scopes) if scopes is not None else None
        if granted is None:
            granted = frozenset(parse_scope(self.settings.default_scopes) or ())
        ip = client.ip if client is not None else None
        try:
            await self.throttle.hit_registration(ip)
        except RateLimited:
            await self.failure_audit.record("registration_throttled", now=self.clock.now(), ip=ip)
            raise
        async with self._read() as conn:
            taken = (
                await conn.execute(select(users.c.id).where(users.c.username_key == key))
            ).first()
        if taken is not None:
            raise UsernameTaken("this username is taken")
        password_hash = await self.hasher.hash(password)
        now = self.clock.now()
        user = User(
            id=new_id(),
            username=display,
            email=mail,
            scopes=granted,
            disabled=False,
            created_at=now,
            tokens_valid_after=0.0,
        )
        try:
            async with self._write() as conn:
                await conn.execute(
                    insert(users).values(
                        id=user.id,
                        username=display,
                        username_key=key,
                        email=mail,
                        password_hash=password_hash,
                        scopes=scope_text(granted),
                        disabled=False,
                        tokens_valid_after=0.0,
                        created_at=now,
                    )
                )
                await audit(conn, "user_registered", now=now, user_id=user.id)
        except StoreUnavailable as exc:  # the unique index: another register won a race
            if isinstance(exc.__cause__, IntegrityError):
                raise UsernameTaken("this username is taken") from exc
            raise
        return user

    async def get_user(self, user_id: str) -> User:
        async with self._read() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFound("no such user")
        return row_to_user(row)

    async def get_user_by_username(self, username: str) -> User:
        try:
            _, key = normalize_username(username)
        except InvalidRequest as exc:
            raise NotFound("no such user") from exc
        async with self._read() as conn:
            row = (await conn.execute(select(users).where(users.c.username_key == key))).first()
        if row is None:
            raise NotFound("no such user")
        return row_to_user(row)

    async def list_users(self) -> list[User]:
        async with self._read() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.created_at))).all()
        return [row_to_user(r) for r in rows]

    async def set_scopes(self, user_id: str, scopes: Iterable[str]) -> User:
        """Replace the user's allowed scopes. Existing sessions are narrowed at their
        next refresh (granted = session scope ∩ allowed scopes)."""
        granted = parse_scope(scopes) or frozenset()
        async with self._write() as conn:
            done = await conn.execute(
                update(users).where(users.c.id == user_id).values(scopes=scope_text(granted))
            )
            if done.rowcount != 1:
                raise NotFound("no such user")
        return await self.get_user(user_id)

    async def logout_all(self, user_id: str, *, client: ClientInfo | None = None) -> None:
        """End every session and token of the user (A.4 #33, A.7 #48)."""
        now = self.clock.now()
        ip = client.ip if client is not None else None
        async with self._write() as conn:
            version = await self._bump(conn, user_id, now)
            events = await self._cut_off(conn, user_id, version, now)
            events += await self._end_sessions(conn, user_id=user_id, reason="logout_all")
            await audit(conn, "logout_all", now=now, user_id=user_id, ip=ip)
        await self.sync.emit(events)

    async def disable_user(self, user_id: str) -> None:
        """Disable the user and end every session and token (A.4 #33, A.7 #48)."""
        now = self.clock.now()
        async with self._write() as conn:
            version = await self._bump(conn, user_id, now, disable=True)
            events = await self._cut_off(conn, user_id, version, now)
            events += await self._end_sessions(conn, user_id=user_id, reason="disabled")
            await audit(conn, "user_disabled", now=now, user_id=user_id)
        await self.sync.emit(events)

    async def _bump(
        self, conn: AsyncConnection, user_id: str, now: float, *, disable: bool = False
    ) -> int:
        """Bump the credential version, locking the user row before the sessions to
        end are selected (A.7 #48: a racing login either committed before, and its
        session is ended, or it waits for this commit and fails its version check).
        Returns the new version.

        Raises:
            NotFound: no such user.
        """
        values: dict[str, Any] = {
            "tokens_valid_after": now,
            "credential_version": users.c.credential_version + 1,
        }
        if disable:
            values["disabled"] = True
        version = (
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(**values)
                .returning(users.c.credential_version)
            )
        ).scalar()
        if version is None:
            raise NotFound("no such user")
        return int(version)

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        now = self.clock.now()
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(sessions)
                    .where(
                        sessions.c.user_id == user_id,
                        sessions.c.ended_at.is_(None),
                        sessions.c.idle_expires_at > now,
                        sessions.c.absolute_expires_at > now,
                    )
                    .order_by(sessions.c.created_at.desc(), sessions.c.id)
                )
            ).all()
        return [
            SessionInfo(
                id=r.id,
                user_id=r.user_id,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                idle_expires_at=r.idle_expires_at,
                absolute_expires_at=r.absolute_expires_at,
                user_agent=r.user_agent,
                ip=r.ip,
                ended_at=r.ended_at,
                end_reason=r.end_reason,
                scope=frozenset(r.scope.split()),
            )
            for r in rows
        ]

    async def end_session(self, user_id: str, session_id: str) -> None:
        now = self.clock.now()
        async with self._write() as conn:
            events = await self._end_sessions(
                conn, user_id=user_id, only=session_id, reason="ended", active_only=True
            )
            if events:
                await audit(conn, "session_ended", now=now, user_id=user_id, session_id=session_id)
        if not events:
            raise NotFound("no such active session")
        await self.sync.emit(events)
