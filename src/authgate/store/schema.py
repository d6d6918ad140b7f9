"""The tables, as SQLAlchemy Core. Migrations in :mod:`authgate.migrations` create
exactly these (a test compares them). Timestamps are float epoch seconds from the
injected clock.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

__all__ = [
    "audit_events",
    "email_outbox",
    "email_tokens",
    "metadata",
    "refresh_tokens",
    "revocations",
    "sessions",
    "signing_keys",
    "users",
]

metadata = MetaData()

#: SQLite only auto-increments an INTEGER PRIMARY KEY.
_BIGID = BigInteger().with_variant(Integer, "sqlite")

users = Table(
    "users",
    metadata,
    # A random opaque id: the JWT ``sub`` never changes, even when the username does
    # (RFC 8725 §3.8, SECURITY.md A.3 #22).
    Column("id", String(32), primary_key=True),
    Column("username", String(256), nullable=False),
    # NFKC + casefold: "Ａlice" and "alice" are one account.
    Column("username_key", String(256), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    # service/emails.py's key: one account per address, whatever its case (issue 16).
    Column("email_key", String(320), nullable=True),
    # Set once the owner proved the address (or an import said so); never by the user.
    Column("email_verified", Boolean, nullable=False, default=False, server_default=false()),
    Column("password_hash", Text, nullable=False),
    Column("scopes", Text, nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("tokens_valid_after", Double, nullable=False, default=0.0),
    Column("created_at", Double, nullable=False),
    # Bumped by every password change, disable and logout-all, in the transaction
    # that ends the sessions; a login commits only if it is still what the password
    # was checked against, and access tokens carry it as ``gen`` (SECURITY.md A.7 #48).
    Column("credential_version", Integer, nullable=False, default=0, server_default="0"),
    Index("ux_users_email_key", "email_key", unique=True),
)

sessions = Table(
    "sessions",
    metadata,
    # One login = one session = one refresh-token family (RFC 9700 §4.14.2).
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=False),
    Column("idle_expires_at", Double, nullable=False),
    Column("absolute_expires_at", Double, nullable=False),
    Column("user_agent", String(512), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("scope", Text, nullable=False, default=""),
    Column("ended_at", Double, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    # SHA-256 of the token: the plaintext is never stored (SECURITY.md A.4 #24); the
    # lookup is an index hit on the hash, never a comparison of secrets (A.2 #9).
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("parent_hash", LargeBinary(32), nullable=True),
    Column("issued_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
    Index("ix_refresh_tokens_session_id", "session_id"),
)

revocations = Table(
    "revocations",
    metadata,
    # An append-only log every instance replays (by ``seq``) into its in-memory
    # revocation state. kind: "jti" (key = jti, until = exp), "sid" (an ended
    # session), "sub" (value = tokens_valid_after), "keys" (signing keys changed).
    Column("seq", _BIGID, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", Double, nullable=False, default=0.0),
    Column("expires_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_revocations_expires_at", "expires_at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    # AES-256-GCM(nonce ‖ ciphertext) of the private JWK, AAD = kid.
    Column("encrypted_jwk", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("retire_at", Double, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("event", String(32), nullable=False),
    Column("user_id", String(32), nullable=True),
    Column("session_id", String(32), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_audit_events_at", "at"),
)

email_tokens = Table(
    "email_tokens",
    metadata,
    # SECURITY.md A.7 #57: SHA-256 of a 256-bit token; the plaintext is only in the
    # message. purpose: "reset", "verify" (the address on the account) or "change"
    # (a new address, ``email``/``email_key``, becomes the account's when used).
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("purpose", String(8), nullable=False),
    Column("email", String(320), nullable=True),
    Column("email_key", String(320), nullable=True),
    # The user's credential version when issued: a password change, disable or
    # logout-all since then kills the token.
    Column("credential_version", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("ix_email_tokens_user_id", "user_id"),
    Index("ix_email_tokens_expires_at", "expires_at"),
)

email_outbox = Table(
    "email_outbox",
    metadata,
    # Committed with the request's own transaction; sent by the outbox worker
    # (service/outbox.py). A row is claimed with a lease, so one instance sends it.
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("created_at", Double, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", Double, nullable=False),
    Column("lease_until", Double, nullable=True),
    Column("lease_owner", String(32), nullable=True),
    Column("sent_at", Double, nullable=True),
    Column("last_error", String(256), nullable=True),
    Index("ix_email_outbox_due", "sent_at", "next_attempt_at"),
)
