"""Plain data shared by the store and the service (ARCHITECTURE.md, "The auth
service"): the store returns these, the service speaks them, so neither imports the
other's types. No framework, driver or I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Api",
    "ClientInfo",
    "ImportedUser",
    "IssuedToken",
    "MfaStatus",
    "MfaTokenRecord",
    "Passkey",
    "RefreshRecord",
    "RegisteredClient",
    "RevocationEvent",
    "SessionInfo",
    "StoredAccount",
    "TokenPair",
    "TotpEnrolment",
    "TotpFactor",
    "User",
    "UserRecord",
]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is calling: recorded on sessions and used by the throttle."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str | None
    scopes: frozenset[str]
    disabled: bool
    created_at: float
    tokens_valid_after: float
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user row as the login and the password change need it (never leaves the
    service: it holds the password hash)."""

    id: str
    username: str
    username_key: str
    password_hash: str
    scopes: str
    disabled: bool
    credential_version: int
    #: A confirmed second factor: the password alone never yields tokens.
    second_factor: bool = False
    email_verified: bool = False
    email: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A refresh token with its session and user (``store.statements.TOKEN_BY_HASH``)."""

    used_at: float | None
    issued_at: float
    session_id: str
    user_id: str
    scope: str
    ended_at: float | None
    idle_expires_at: float
    absolute_expires_at: float
    user_scopes: str
    username: str
    disabled: bool
    credential_version: int
    #: RFC 8176 methods of the session's login, space-separated (``sessions.amr``).
    amr: str = "pwd"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """The RFC 6749 §5.1 answer of a successful login or refresh."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: frozenset[str]
    session_id: str
    user_id: str
    #: RFC 6750 §4 spells it ``Bearer`` (RFC 6749 §7.1: compared case-insensitively);
    #: introspection (RFC 7662 §2.2) answers the same.
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    user_id: str
    created_at: float
    last_used_at: float
    idle_expires_at: float
    absolute_expires_at: float
    user_agent: str | None
    ip: str | None
    ended_at: float | None = None
    end_reason: str | None = None
    scope: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One row of the revocation log, made by this service or read from the
    database; never decoded from a Redis message (SECURITY.md A.7 #50)."""

    kind: str
    key: str
    value: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Api:
    """A registered API (resource server): tokens minted for it carry its
    ``audience`` as ``aud`` and only its ``scopes`` (RFC 8707)."""

    name: str
    audience: str
    scopes: frozenset[str]
    created_at: float


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A registered OAuth client (RFC 6749 §2). ``secret_digest`` is the SHA-256 of
    its secret (``client_secret_*``); ``jwks`` (JSON text) or ``jwks_uri`` hold the
    keys of a ``private_key_jwt`` client (RFC 7523 §2.2)."""

    client_id: str
    name: str
    grants: frozenset[str]
    scopes: frozenset[str]
    auth_method: str
    secret_digest: bytes | None
    jwks: str | None
    jwks_uri: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The answer of a grant without a refresh token (RFC 6749 §4.4.3, RFC 8693 §2.2.1)."""

    access_token: str
    expires_in: int
    scope: frozenset[str]
    issued_token_type: str | None = None
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class Passkey:
    """A registered WebAuthn credential (W3C WebAuthn L3 §6.1: the flags as the
    authenticator reported them)."""

    id: str  # base64url credential id
    user_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    name: str
    created_at: float
    last_used_at: float | None
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's TOTP factor, the secret opened (never leaves the service)."""

    user_id: str
    secret: str
    confirmed: bool
    last_step: int | None


@dataclass(frozen=True, slots=True)
class MfaTokenRecord:
    """The pending second step of a login (``mfa_tokens``)."""

    user_id: str
    credential_version: int
    scope: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A TOTP enrolment waiting for its first code: shown to the user once."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class MfaStatus:
    """Which second factors a user has."""

    totp: bool
    pending: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class ImportedUser:
    """One validated account of ``authgate users import`` (the hash kept as the old
    system stored it; upgraded to Argon2id at the next login)."""

    id: str
    username: str
    username_key: str
    email: str | None
    #: ``authgate.service.emails.normalize_email``'s key: unique, like a registered one.
    email_key: str | None
    email_verified: bool
    disabled: bool
    scopes: str
    created_at: float
    password_hash: str
    #: A keyed MAC of ``password_hash`` as imported (``authgate.service.import_changes``):
    #: tells a later ``--update`` whether the old system's hash changed, after authgate
    #: upgraded or replaced the stored one.
    hash_mac: str | None = None


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An existing account as ``authgate users import --update`` finds it before
    overwriting it: what it compares the record with."""

    id: str
    username_key: str
    email_key: str | None
    disabled: bool
    scopes: str
    password_hash: str
    #: The MAC of the hash its last import brought (None: never imported since it
    #: was kept).
    hash_mac: str | None = None
