"""Prebuilt statements for the hot paths (login, refresh).

Building a SQLAlchemy statement and its cache key costs about as much as a database
round trip on SQLite; these are built once, with bound parameters, and their cache
keys are memoised.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from authgate.store.schema import audit_events, refresh_tokens, sessions, users

__all__ = [
    "CONSUME_REFRESH",
    "INSERT_AUDIT",
    "INSERT_REFRESH",
    "INSERT_SESSION",
    "TOKEN_BY_HASH",
    "TOUCH_SESSION",
    "USER_BY_KEY",
]

#: Parameters: key.
USER_BY_KEY = select(users).where(users.c.username_key == bindparam("key"))

#: RFC 9700 §4.14.2 compare-and-set. Parameters: hash, now. rowcount 1 = this caller won.
CONSUME_REFRESH = (
    update(refresh_tokens)
    .where(refresh_tokens.c.token_hash == bindparam("hash"), refresh_tokens.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)

#: A refresh token with its session and user. Parameters: hash.
TOKEN_BY_HASH = (
    select(
        refresh_tokens.c.used_at,
        refresh_tokens.c.issued_at,
        sessions.c.id.label("session_id"),
        sessions.c.user_id,
        sessions.c.scope,
        sessions.c.ended_at,
        sessions.c.idle_expires_at,
        sessions.c.absolute_expires_at,
        users.c.scopes.label("user_scopes"),
        users.c.username,
        users.c.disabled,
    )
    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
    .join(users, users.c.id == sessions.c.user_id)
    .where(refresh_tokens.c.token_hash == bindparam("hash"))
)

#: Parameters: sid, now, idle. rowcount 0 = the session was ended meanwhile.
TOUCH_SESSION = (
    update(sessions)
    .where(sessions.c.id == bindparam("sid"), sessions.c.ended_at.is_(None))
    .values(last_used_at=bindparam("now"), idle_expires_at=bindparam("idle"))
)

#: Parameters: every column (executed with a dict).
INSERT_REFRESH = insert(refresh_tokens)
INSERT_SESSION = insert(sessions)
INSERT_AUDIT = insert(audit_events)
