"""The database side of login and refresh: each is one write transaction written as
blocking code, run in one worker-thread hop on SQLite or through ``run_sync`` on
PostgreSQL (see ``ServiceCore._write_blocking``).

SECURITY.md A.7 #48: a login's session is inserted only after the user row is locked
and found at the credential version the password was checked against.

RFC 9700 §4.14.2: the refresh token is consumed by a compare-and-set
(``UPDATE … WHERE used_at IS NULL``); any refusal after it raises inside the
transaction, so the rollback leaves the token unused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from authgate.errors import InvalidGrant, InvalidScope
from authgate.service._core import ServiceCore
from authgate.service.audit import audit_sync, log_event
from authgate.service.types import ClientInfo
from authgate.service.users import scope_text
from authgate.store.schema import users
from authgate.store.statements import (
    CONSUME_REFRESH,
    INSERT_REFRESH,
    INSERT_SESSION,
    LOCK_USER,
    PG_CONSUME_REFRESH,
    PG_ROTATE,
    TOKEN_BY_HASH,
    TOUCH_SESSION,
)

__all__ = ["RotationOps"]


class RotationOps(ServiceCore):
    def _open_session(
        self,
        conn: Connection,
        user: Any,
        sid: str,
        digest: bytes,
        granted: frozenset[str],
        new_hash: str | None,
        now: float,
        client: ClientInfo,
    ) -> bool:
        """Create the session, unless the user's credential version or status moved
        since ``user`` was read (SECURITY.md A.7 #48): checked under the row lock, so
        a password change, disable or logout-all either sees this session (and ends
        it) or makes this check fail. Returns False (nothing written) then."""
        s = self.settings.sessions
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
                "idle_expires_at": min(now + s.idle_ttl, now + s.absolute_ttl),
                "absolute_expires_at": now + s.absolute_ttl,
                "user_agent": (client.user_agent or None) and client.user_agent[:512],
                "ip": (client.ip or None) and client.ip[:64],
                "scope": scope_text(granted),
                "ended_at": None,
                "end_reason": None,
            },
        )
        conn.execute(INSERT_REFRESH, _refresh_row(digest, sid, None, now))
        audit_sync(
            conn,
            "login_ok",
            now=now,
            user_id=user.id,
            session_id=sid,
            ip=client.ip,
            rehashed=new_hash is not None,
        )
        return True

    def _rotate(
        self,
        conn: Connection,
        digest: bytes,
        new_digest: bytes,
        requested: frozenset[str] | None,
        now: float,
        ip: str | None,
    ) -> tuple[Any, frozenset[str] | None]:
        """One write transaction: consume first (compare-and-set), then look. Any
        refusal raises inside it, so the rollback leaves the token unused.

        Returns (row, granted scope), or (row, None) when the token was already used.
        """
        if conn.dialect.name == "postgresql":
            return self._rotate_pg(conn, digest, new_digest, requested, now, ip)
        won = conn.execute(CONSUME_REFRESH, {"hash": digest, "now": now}).rowcount == 1
        row = conn.execute(TOKEN_BY_HASH, {"hash": digest}).first()
        if row is None:
            raise InvalidGrant("invalid refresh token")
        if not won:
            return row, None
        granted = self._check_refresh(row, requested, now)
        idle = min(now + self.settings.sessions.idle_ttl, row.absolute_expires_at)
        alive = conn.execute(TOUCH_SESSION, {"sid": row.session_id, "now": now, "idle": idle})
        if alive.rowcount != 1:
            raise InvalidGrant("the session has ended")
        conn.execute(INSERT_REFRESH, _refresh_row(new_digest, row.session_id, digest, now))
        audit_sync(conn, "refresh", now=now, user_id=row.user_id, session_id=row.session_id, ip=ip)
        return row, granted

    def _rotate_pg(
        self,
        conn: Connection,
        digest: bytes,
        new_digest: bytes,
        requested: frozenset[str] | None,
        now: float,
        ip: str | None,
    ) -> tuple[Any, frozenset[str] | None]:
        """:meth:`_rotate` in two statements (fewer round trips, same semantics)."""
        row = conn.execute(PG_CONSUME_REFRESH, {"hash": digest, "now": now}).first()
        if row is None:
            row = conn.execute(TOKEN_BY_HASH, {"hash": digest}).first()
            if row is None:
                raise InvalidGrant("invalid refresh token")
            return row, None
        granted = self._check_refresh(row, requested, now)
        idle = min(now + self.settings.sessions.idle_ttl, row.absolute_expires_at)
        params = {
            "p_sid": row.session_id,
            "p_now": now,
            "p_idle": idle,
            "p_new_hash": new_digest,
            "p_hash": digest,
            "p_event": "refresh",
            "p_ip": ip[:64] if ip else None,
            "p_detail": "{}",
        }
        if conn.execute(PG_ROTATE, params).rowcount != 1:
            raise InvalidGrant("the session has ended")
        log_event("refresh", user_id=row.user_id, session_id=row.session_id, ip=ip)
        return row, granted

    @staticmethod
    def _check_refresh(row: Any, requested: frozenset[str] | None, now: float) -> frozenset[str]:
        """The scope to grant, or InvalidGrant / InvalidScope."""
        if row.ended_at is not None or row.disabled:
            raise InvalidGrant("the session has ended")
        if now >= row.idle_expires_at or now >= row.absolute_expires_at:
            raise InvalidGrant("the session has expired")
        session_scope = frozenset(row.scope.split()) & frozenset(row.user_scopes.split())
        if requested is None:
            return session_scope
        if requested <= session_scope:
            return requested
        raise InvalidScope("refresh cannot broaden the scope (RFC 6749 §6)")


def _refresh_row(digest: bytes, sid: str, parent: bytes | None, now: float) -> dict[str, Any]:
    return {
        "token_hash": digest,
        "session_id": sid,
        "parent_hash": parent,
        "issued_at": now,
        "used_at": None,
    }
