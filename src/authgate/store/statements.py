"""Prebuilt statements for the hot paths (login, refresh).

Building a SQLAlchemy statement and its cache key costs about as much as a database
round trip on SQLite; these are built once, with bound parameters, and their cache
keys are memoised.
"""

from __future__ import annotations

from sqlalchemy import (
    Double,
    LargeBinary,
    String,
    bindparam,
    cast,
    exists,
    insert,
    or_,
    select,
    update,
)

from authgate.store.schema import (
    audit_events,
    mfa_factors,
    refresh_tokens,
    sessions,
    users,
    webauthn_credentials,
)

__all__ = [
    "CONSUME_REFRESH",
    "INSERT_AUDIT",
    "INSERT_REFRESH",
    "INSERT_SESSION",
    "LOCK_USER",
    "PG_CONSUME_REFRESH",
    "PG_ROTATE",
    "SECOND_FACTOR",
    "TOKEN_BY_HASH",
    "TOUCH_SESSION",
    "USER_BY_KEY",
]

#: THE definition of "the account has a second factor", a column correlated with
#: ``users``: a confirmed TOTP factor, or a passkey (the ``webauthn`` second step).
#: The login asks it (a password alone is then ``mfa_required``) and so does every
#: password minimum (NIST SP 800-63B-4 §3.1.1.2: 15 characters for a password that is
#: the only factor, 8 with a second factor) and the removal of a factor (SECURITY.md
#: A.7 #58); a pending TOTP enrolment is not one.
SECOND_FACTOR = or_(
    exists().where(mfa_factors.c.user_id == users.c.id, mfa_factors.c.confirmed_at.is_not(None)),
    exists().where(webauthn_credentials.c.user_id == users.c.id),
).label("second_factor")

#: Parameters: key.
USER_BY_KEY = select(users, SECOND_FACTOR).where(users.c.username_key == bindparam("key"))

#: The user's credential version and status, locked until the transaction ends
#: (PostgreSQL ``FOR SHARE``: a concurrent password change, disable or logout-all
#: waits for this login to commit, or this login waits for it and reads its new
#: version; SQLite has one writer at a time anyway). SECURITY.md A.7 #48.
#: Parameters: id.
LOCK_USER = (
    select(users.c.credential_version, users.c.disabled)
    .where(users.c.id == bindparam("id"))
    .with_for_update(read=True)
)

#: RFC 9700 §4.14.2 compare-and-set. Parameters: hash, now. rowcount 1 = this caller won.
CONSUME_REFRESH = (
    update(refresh_tokens)
    .where(refresh_tokens.c.token_hash == bindparam("hash"), refresh_tokens.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)

_TOKEN_COLUMNS = (
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
    users.c.credential_version,
    sessions.c.amr,
)

#: A refresh token with its session and user. Parameters: hash.
TOKEN_BY_HASH = (
    select(*_TOKEN_COLUMNS)
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

# -- PostgreSQL: the same rotation in two statements instead of five ---------------

#: CONSUME_REFRESH + TOKEN_BY_HASH in one round trip (UPDATE … FROM … RETURNING).
#: No row: the token is unknown or already used. Parameters: hash, now.
PG_CONSUME_REFRESH = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.token_hash == bindparam("hash"),
        refresh_tokens.c.used_at.is_(None),
        sessions.c.id == refresh_tokens.c.session_id,
        users.c.id == sessions.c.user_id,
    )
    .values(used_at=bindparam("now"))
    .returning(*_TOKEN_COLUMNS)
)

_touch = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_sid"), sessions.c.ended_at.is_(None))
    .values(last_used_at=bindparam("p_now"), idle_expires_at=bindparam("p_idle"))
    .returning(sessions.c.id, sessions.c.user_id)
    .cte("touch")
)
_new_token = (
    insert(refresh_tokens)
    .from_select(
        ["token_hash", "session_id", "parent_hash", "issued_at"],
        select(
            cast(bindparam("p_new_hash"), LargeBinary),
            _touch.c.id,
            cast(bindparam("p_hash"), LargeBinary),
            cast(bindparam("p_now"), Double),
        ),
    )
    .returning(refresh_tokens.c.session_id)
    .cte("new_token")
)

#: TOUCH_SESSION + INSERT_REFRESH + the audit row, as data-modifying CTEs: rowcount 0
#: when the session was ended meanwhile. Parameters: p_sid, p_now, p_idle, p_new_hash,
#: p_hash, p_event, p_ip, p_detail (prefixed: a key named like a column of an UPDATE's
#: table would be added to its SET clause).
PG_ROTATE = insert(audit_events).from_select(
    ["at", "event", "user_id", "session_id", "ip", "detail"],
    select(
        cast(bindparam("p_now"), Double),
        cast(bindparam("p_event"), String),
        _touch.c.user_id,
        _new_token.c.session_id,
        cast(bindparam("p_ip"), String),
        cast(bindparam("p_detail"), String),
    ).select_from(_touch.join(_new_token, _new_token.c.session_id == _touch.c.id)),
)
