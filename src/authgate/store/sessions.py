"""The sessions aggregate: sessions and their refresh tokens.

:class:`SqlSessions` implements :class:`authgate.store.protocols.SessionRepository`;
:class:`SqlHotPath` the login and refresh transactions as blocking code, on
the prebuilt statements of :mod:`authgate.store.statements` (one thread hop on
SQLite, two statements for a refresh on PostgreSQL).

SECURITY.md A.7 #48: a login's session is inserted only after the user row is locked
and found at the credential version the password was checked against.

RFC 9700 §4.14.2: the refresh token is consumed by a compare-and-set
(``UPDATE … WHERE used_at IS NULL``); any refusal after it raises inside the
transaction, so the rollback leaves the token unused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import ClientInfo, RefreshRecord, SessionInfo, UserRecord
from authgate.errors import InvalidGrant
from authgate.store.audit import audit_row
from authgate.store.schema import refresh_tokens, sessions, users
from authgate.store.statements import (
    CONSUME_REFRESH,
    INSERT_AUDIT,
    INSERT_REFRESH,
    INSERT_SESSION,
    LOCK_USER,
    PG_CONSUME_REFRESH,
    PG_ROTATE,
    TOKEN_BY_HASH,
    TOUCH_SESSION,
    USER_BY_KEY,
)
from authgate.store.users import to_record

__all__ = ["SqlHotPath", "SqlSessions"]


def _token(row: Any) -> RefreshRecord:
    return RefreshRecord(*row)  # the columns of TOKEN_BY_HASH, in order


class SqlSessions:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def token(self, digest: bytes) -> RefreshRecord | None:
        row = (await self._conn.execute(TOKEN_BY_HASH, {"hash": digest})).first()
        return None if row is None else _token(row)

    async def end(
        self,
        user_id: str,
        *,
        now: float,
        reason: str,
        only: str | None = None,
        keep: str | None = None,
        active_only: bool = False,
    ) -> list[str]:
        query = select(sessions.c.id).where(
            sessions.c.user_id == user_id, sessions.c.ended_at.is_(None)
        )
        if only is not None:
            query = query.where(sessions.c.id == only)
        if keep is not None:
            query = query.where(sessions.c.id != keep)
        if active_only:
            query = query.where(
                sessions.c.idle_expires_at > now, sessions.c.absolute_expires_at > now
            )
        ids = list((await self._conn.execute(query)).scalars())
        if ids:
            await self._conn.execute(
                update(sessions)
                .where(sessions.c.id.in_(ids), sessions.c.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason)
            )
        return ids

    async def reopen(
        self,
        user_id: str,
        sid: str,
        new_sid: str,
        digest: bytes,
        *,
        now: float,
        idle_ttl: float,
    ) -> frozenset[str] | None:
        row = (
            await self._conn.execute(
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
        values = dict(row._mapping)
        idle = min(now + idle_ttl, row.absolute_expires_at)
        values.update(id=new_sid, last_used_at=now, idle_expires_at=idle)
        await self._conn.execute(insert(sessions).values(**values))
        await self._conn.execute(INSERT_REFRESH, _refresh_row(digest, new_sid, None, now))
        return frozenset(row.scope.split())

    async def amr(self, sid: str) -> tuple[str, ...]:
        found = await self._conn.scalar(select(sessions.c.amr).where(sessions.c.id == sid))
        return tuple((found or "pwd").split())

    async def active(self, user_id: str, now: float) -> list[SessionInfo]:
        rows = (
            await self._conn.execute(
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

    async def purge_dead_tokens(self, now: float) -> None:
        """Delete the refresh tokens of ended or expired sessions."""
        dead = select(sessions.c.id).where(
            or_(sessions.c.ended_at.is_not(None), sessions.c.absolute_expires_at <= now)
        )
        await self._conn.execute(
            delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(dead))
        )


class SqlHotPath:
    """The hot paths as blocking code on one connection (a transaction is open)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def user_by_key(self, username_key: str) -> UserRecord | None:
        row = self._conn.execute(USER_BY_KEY, {"key": username_key}).first()
        return None if row is None else to_record(row)

    def open_session(
        self,
        user: UserRecord,
        *,
        sid: str,
        digest: bytes,
        scope: str,
        new_hash: str | None,
        now: float,
        idle_expires_at: float,
        absolute_expires_at: float,
        client: ClientInfo,
        audit_detail: dict[str, Any],
    ) -> bool:
        """Create the session, unless the user's credential version or status moved
        since ``user`` was read (SECURITY.md A.7 #48): checked under the row lock, so
        a password change, disable or logout-all either sees this session (and ends
        it) or makes this check fail. Returns False (nothing written) then."""
        conn = self._conn
        current = conn.execute(LOCK_USER, {"id": user.id}).first()
        if (
            current is None
            or current.disabled
            or current.credential_version != user.credential_version
        ):
            return False
        if new_hash is not None:  # legacy bcrypt or weaker Argon2 → Argon2id now
            conn.execute(update(users).where(users.c.id == user.id).values(password_hash=new_hash))
        conn.execute(
            INSERT_SESSION,
            {
                "id": sid,
                "user_id": user.id,
                "created_at": now,
                "last_used_at": now,
                "idle_expires_at": idle_expires_at,
                "absolute_expires_at": absolute_expires_at,
                "user_agent": (client.user_agent or None) and client.user_agent[:512],
                "ip": (client.ip or None) and client.ip[:64],
                "scope": scope,
                "ended_at": None,
                "end_reason": None,
            },
        )
        conn.execute(INSERT_REFRESH, _refresh_row(digest, sid, None, now))
        conn.execute(
            INSERT_AUDIT, audit_row("login_ok", now, user.id, sid, client.ip, audit_detail)
        )
        return True

    def rotate(
        self,
        digest: bytes,
        new_digest: bytes,
        *,
        now: float,
        idle_ttl: float,
        ip: str | None,
        check: Callable[[RefreshRecord], frozenset[str]],
    ) -> tuple[RefreshRecord, frozenset[str] | None]:
        """One write transaction: consume first (compare-and-set), then ``check``
        (which raises to refuse: the rollback leaves the token unused).

        Returns (token, granted scope), or (token, None) when it was already used.
        """
        conn = self._conn
        if conn.dialect.name == "postgresql":
            return self._rotate_pg(digest, new_digest, now, idle_ttl, ip, check)
        won = conn.execute(CONSUME_REFRESH, {"hash": digest, "now": now}).rowcount == 1
        row = conn.execute(TOKEN_BY_HASH, {"hash": digest}).first()
        if row is None:
            raise InvalidGrant("invalid refresh token")
        token = _token(row)
        if not won:
            return token, None
        granted = check(token)
        idle = min(now + idle_ttl, token.absolute_expires_at)
        alive = conn.execute(TOUCH_SESSION, {"sid": token.session_id, "now": now, "idle": idle})
        if alive.rowcount != 1:
            raise InvalidGrant("the session has ended")
        conn.execute(INSERT_REFRESH, _refresh_row(new_digest, token.session_id, digest, now))
        conn.execute(
            INSERT_AUDIT, audit_row("refresh", now, token.user_id, token.session_id, ip, {})
        )
        return token, granted

    def _rotate_pg(
        self,
        digest: bytes,
        new_digest: bytes,
        now: float,
        idle_ttl: float,
        ip: str | None,
        check: Callable[[RefreshRecord], frozenset[str]],
    ) -> tuple[RefreshRecord, frozenset[str] | None]:
        """:meth:`rotate` in two statements (fewer round trips, same semantics)."""
        conn = self._conn
        row = conn.execute(PG_CONSUME_REFRESH, {"hash": digest, "now": now}).first()
        if row is None:
            row = conn.execute(TOKEN_BY_HASH, {"hash": digest}).first()
            if row is None:
                raise InvalidGrant("invalid refresh token")
            return _token(row), None
        token = _token(row)
        granted = check(token)
        params = {
            "p_sid": token.session_id,
            "p_now": now,
            "p_idle": min(now + idle_ttl, token.absolute_expires_at),
            "p_new_hash": new_digest,
            "p_hash": digest,
            "p_event": "refresh",
            "p_ip": ip[:64] if ip else None,
            "p_detail": "{}",
        }
        if conn.execute(PG_ROTATE, params).rowcount != 1:
            raise InvalidGrant("the session has ended")
        return token, granted


def _refresh_row(digest: bytes, sid: str, parent: bytes | None, now: float) -> dict[str, Any]:
    return {
        "token_hash": digest,
        "session_id": sid,
        "parent_hash": parent,
        "issued_at": now,
        "used_at": None,
    }
