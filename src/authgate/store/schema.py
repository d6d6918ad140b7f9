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
    "apis",
    "assertion_jtis",
    "audit_events",
    "clients",
    "email_outbox",
    "email_tokens",
    "metadata",
    "mfa_factors",
    "mfa_tokens",
    "recovery_codes",
    "refresh_tokens",
    "revocations",
    "sessions",
    "signing_keys",
    "users",
    "webauthn_challenges",
    "webauthn_credentials",
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
    # HMAC-SHA256 (a subkey of the KEK) of the hash the last ``users import`` brought:
    # never the hash itself, so an upgraded account keeps nothing crackable at the old
    # hash's cost (service/import_changes.py).
    Column("imported_hash_mac", String(64), nullable=True),
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
    # RFC 8176 methods the session's login proved ("pwd", "pwd otp mfa"), so a refresh
    # keeps the access token's amr / acr (migration 0006).
    Column("amr", String(64), nullable=False, default="pwd", server_default="pwd"),
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

apis = Table(
    "apis",
    metadata,
    # A resource server: tokens minted for it carry ``audience`` (RFC 8707).
    Column("name", String(64), primary_key=True),
    Column("audience", String(512), nullable=False, unique=True),
    Column("scopes", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("grants", Text, nullable=False, default=""),
    Column("scopes", Text, nullable=False, default=""),
    # client_secret_basic | client_secret_post | private_key_jwt | none
    Column("auth_method", String(32), nullable=False),
    # SHA-256 of a 256-bit random secret: never the secret itself (SECURITY.md A.7 #55).
    Column("secret_digest", LargeBinary(32), nullable=True),
    Column("jwks", Text, nullable=True),
    Column("jwks_uri", String(2048), nullable=True),
    Column("created_at", Double, nullable=False),
)

assertion_jtis = Table(
    "assertion_jtis",
    metadata,
    # RFC 7523 §3 item 7: a client assertion's jti is accepted once until its exp.
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Double, nullable=False),
    Index("ix_assertion_jtis_expires_at", "expires_at"),
)

webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    # The credential id as base64url (W3C WebAuthn L3 §5.1: at most 1023 bytes).
    Column("id", String(1400), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # The COSE_Key of the credential (§6.5.1.1), as the registration ceremony stored it.
    Column("public_key", LargeBinary, nullable=False),
    # §6.1.1: a counter that does not increase signals a cloned authenticator.
    Column("sign_count", BigInteger, nullable=False, default=0),
    Column("transports", Text, nullable=False, default="[]"),
    Column("name", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=True),
    # §6.1 flags BE / BS: may this key be synced, and is it now.
    Column("backup_eligible", Boolean, nullable=False, default=False),
    Column("backed_up", Boolean, nullable=False, default=False),
    Index("ix_webauthn_credentials_user_id", "user_id"),
)

webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    # SHA-256 of the challenge: taken once (DELETE … WHERE), then gone (§13.4.3).
    Column("digest", LargeBinary(32), primary_key=True),
    Column("user_id", String(32), nullable=True),
    Column("purpose", String(16), nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("ix_webauthn_challenges_expires_at", "expires_at"),
)

mfa_factors = Table(
    "mfa_factors",
    metadata,
    # One TOTP factor per user (RFC 6238). The secret is sealed with the KEK
    # (AES-256-GCM, AAD = "totp:" + user id), never stored in the clear.
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    # NULL until the first code proved the enrolment.
    Column("confirmed_at", Double, nullable=True),
    # The last accepted time step: a code is refused unless its step is later
    # (compare-and-set, so a code is used once even under a burst).
    Column("last_step", BigInteger, nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    # SHA-256 of a random 80-bit code: no salt or slow hash is needed for a random
    # secret (SECURITY.md A.4 #24's reasoning for refresh tokens).
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
)

mfa_tokens = Table(
    "mfa_tokens",
    metadata,
    # The second step of a login: SHA-256 of a 256-bit token, bound to the user and
    # to the credential version the password was checked against; used once.
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_version", Integer, nullable=False),
    Column("scope", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
    Index("ix_mfa_tokens_expires_at", "expires_at"),
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
