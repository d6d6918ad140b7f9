"""The one settings object. Built only by the CLI and ``create_app(settings)``,
then passed down explicitly: there is no module-level instance.

Environment variables use the ``AUTHGATE_`` prefix (``.env`` is read too);
nested sections use ``__``, e.g. ``AUTHGATE_THROTTLE__MAX_FAILURES=5``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_REDIS_NAMESPACE",
    "AuditSettings",
    "CookieSettings",
    "EmailSettings",
    "MfaSettings",
    "PasswordSettings",
    "SessionSettings",
    "Settings",
    "ThrottleSettings",
    "WebAuthnSettings",
    "parse_trusted_proxies",
]

#: The Redis namespace when none is set (``Settings.redis_namespace``).
DEFAULT_REDIS_NAMESPACE = "authgate"
#: RFC 9700 §2.3 / SECURITY.md A.4 #30: access tokens are short-lived, bounded.
MAX_ACCESS_TOKEN_TTL = 3600


class PasswordSettings(BaseModel):
    """OWASP Password Storage Cheat Sheet: Argon2id, m ≥ 19 MiB, t ≥ 2, p = 1."""

    argon2_memory_kib: int = Field(19_456, ge=19_456)
    argon2_time_cost: int = Field(2, ge=2)
    argon2_parallelism: int = Field(1, ge=1)
    min_length: int = Field(8, ge=8)
    #: NIST SP 800-63B-4 §3.1.1.2: a password that is the only factor needs at least 15
    #: characters; one used with a second factor, at least 8. ``min_length`` stays the
    #: floor of both.
    min_length_single_factor: int = Field(15, ge=8, le=64)
    min_length_with_mfa: int = Field(8, ge=8, le=64)
    max_length: int = Field(1024, ge=64, le=4096)
    #: How many hashes may run at once in worker threads (0 = one per core).
    max_concurrent_hashes: int = Field(0, ge=0)
    #: Minimum zxcvbn strength score (0–4) a new password needs; 2 = at least 10^6 guesses.
    min_score: int = Field(2, ge=0, le=4)


class SessionSettings(BaseModel):
    """RFC 9700 §4.14.2: rotating refresh tokens with idle and absolute expiry."""

    idle_ttl: int = Field(14 * 86400, ge=60)
    absolute_ttl: int = Field(30 * 86400, ge=60)
    #: A client that lost a refresh race may retry within this many seconds.
    reuse_grace: float = Field(5.0, ge=0.0, le=60.0)


class ThrottleSettings(BaseModel):
    """Failed-login limits per account and per client IP (OWASP Authentication CS)."""

    enabled: bool = True
    max_failures: int = Field(5, ge=1)
    window: int = Field(15 * 60, ge=1)
    per_ip_max_failures: int = Field(50, ge=1)
    #: Back-off grows as base × 2^(extra failures), capped at ``window``.
    backoff_base: int = Field(1, ge=1)
    #: Sign-ups one client IP may make per hour (each costs an Argon2 hash).
    registrations_per_ip_per_hour: int = Field(20, ge=1)


class MfaSettings(BaseModel):
    """Second factors: TOTP (RFC 6238), recovery codes, the login's second step."""

    #: The ``issuer`` label of ``otpauth://`` URIs (what the authenticator app shows).
    totp_issuer: str = Field("authgate", min_length=1, max_length=64)
    #: Seconds an ``mfa_token`` (password checked, second step due) stays usable.
    mfa_token_ttl: int = Field(300, ge=30, le=900)
    #: Wrong codes per account per throttle window before the back-off starts.
    max_failures: int = Field(5, ge=1, le=20)
    recovery_codes: int = Field(10, ge=5, le=20)


class CookieSettings(BaseModel):
    """The browser transport: ``__Host-`` cookies plus a double-submit CSRF token."""

    enabled: bool = False
    secure: bool = True
    access_name: str = "__Host-authgate-access"
    refresh_name: str = "__Host-authgate-refresh"
    csrf_name: str = "__Host-authgate-csrf"
    csrf_header: str = "X-CSRF-Token"


class AuditSettings(BaseModel):
    """Bounded audit storage (SECURITY.md A.7 #53; OWASP Logging CS, log flooding).

    Failures that need no credentials (``refresh_failed``, ``login_throttled``,
    ``registration_throttled``) get a row each only up to ``rows_per_ip`` per client IP
    and ``rows_per_event`` in all per ``window`` seconds; the rest are counted in memory
    and written as one summary row per event when the window closes (or the server
    stops), so the count is always recorded.
    """

    #: Rows older than this are deleted by the maintenance pass.
    retention_days: int = Field(90, ge=1, le=36_500)
    window: int = Field(60, ge=1, le=86_400)
    rows_per_ip: int = Field(5, ge=1)
    rows_per_event: int = Field(100, ge=1)
    #: Client IPs counted one by one in a window; beyond, they share one counter.
    max_tracked_ips: int = Field(1000, ge=1)


class WebAuthnSettings(BaseModel):
    """Passkeys (W3C WebAuthn Level 3). The relying-party id and the accepted origin
    come from ``issuer`` (its host, and its scheme://host[:port]) unless set here."""

    #: §5.1.2: a registrable domain suffix of the origin's host, e.g. ``example.com``.
    rp_id: str | None = Field(None, max_length=253)
    #: Exact origins a ceremony may come from (``https://login.example.com``).
    origins: list[str] = Field(default_factory=list)
    rp_name: str = Field("authgate", min_length=1, max_length=64)
    #: Seconds a challenge stays valid (§5.4.7 / §5.5.6 ``timeout`` is the same).
    challenge_ttl: int = Field(300, ge=30, le=600)
    #: Seconds after a login during which adding a passkey needs no password.
    reauth_window: int = Field(300, ge=0, le=3600)
    #: At most this many passkeys per account.
    max_per_user: int = Field(20, ge=1, le=100)
    #: Sign-in options (no login needed) one client IP may ask for per minute.
    login_options_per_ip_per_minute: int = Field(30, ge=1)
    #: Outstanding sign-in challenges kept at most (the oldest are evicted).
    max_pending_logins: int = Field(5000, ge=10)


class EmailSettings(BaseModel):
    """Account recovery by email (``AUTHGATE_EMAIL__*``; README "Account recovery").

    ``smtp_url``: ``smtp://host:25`` (plain), ``smtp+starttls://user:pass@host:587``
    (STARTTLS, required) or ``smtps://user:pass@host:465`` (implicit TLS). Unset: the
    development sender writes each message to ``<data_dir>/outbox/`` and the log.
    """

    model_config = ConfigDict(populate_by_name=True)

    smtp_url: SecretStr | None = None
    #: The ``From`` address (``AUTHGATE_EMAIL__FROM``).
    sender: str = Field("authgate@localhost", alias="from", max_length=320)
    #: Trust these CA certificates for the SMTP server (else the system's).
    ca_file: Path | None = None
    timeout: float = Field(15.0, ge=1.0, le=300.0)
    #: A directory whose templates override the shipped ones (same file names).
    templates_dir: Path | None = None
    #: The product name in messages; defaults to the issuer's host name.
    product_name: str | None = Field(None, max_length=100)
    #: SECURITY.md A.7 #57: recovery and verification tokens live at most 30 minutes.
    token_ttl: int = Field(1800, ge=60, le=1800)
    #: Seconds between outbox passes (a queued message also wakes the worker).
    poll_interval: float = Field(2.0, ge=0.05, le=300.0)
    #: A claimed message is another instance's to retry only after this long.
    lease: float = Field(120.0, ge=5.0, le=3600.0)
    #: Retries wait 2^attempts seconds, capped here; after ``max_attempts`` the
    #: message is dropped (its tokens have expired long before).
    max_backoff: float = Field(600.0, ge=1.0, le=86_400.0)
    max_attempts: int = Field(12, ge=1, le=100)
    #: Reset requests one account, one address or one IP may make per hour.
    requests_per_hour: int = Field(5, ge=1)
    requests_per_ip_per_hour: int = Field(30, ge=1)

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> EmailSettings:
        # A send may take its whole timeout; a lease that ends first lets another
        # instance claim the message mid-send and send it a second time.
        if self.lease < 2 * self.timeout:
            raise ValueError("email.lease must be at least twice email.timeout")
        return self


def parse_trusted_proxies(value: str) -> list[str]:
    """Addresses or CIDRs, separated by commas or spaces, normalised (``10.0.0.1``,
    ``10.0.0.0/8``, ``fd00::/8``). A hostname, ``*`` or a CIDR with host bits set is
    refused (SECURITY.md A.7 #51: trust is given to named proxies only).

    Raises:
        ValueError: an entry is not an IP address or network.
    """
    out: list[str] = []
    for item in re.split(r"[,\s]+", value.strip()):
        if not item:
            continue
        try:
            if "/" in item:
                net = ipaddress.ip_network(item, strict=True)
                out.append(str(net.network_address) if net.num_addresses == 1 else str(net))
            else:
                out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(
                f"{item[:64]!r} is not an IP address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8)"
            ) from None
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTHGATE_",
        env_file=".env",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Path("authgate-data")
    database_url: str | None = None
    redis_url: str | None = None
    #: Prefix of every Redis key and channel authgate uses (throttle counters,
    #: revocation fan-out), so deployments sharing one Redis never mix their state.
    redis_namespace: str = Field(DEFAULT_REDIS_NAMESPACE, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "authgate"
    client_id: str = "authgate"
    signing_algorithm: str = "EdDSA"
    signing_key_file: Path | None = None
    secret_key: SecretStr | None = None
    #: Encrypts private signing keys at rest; read from ``key_encryption_key_file``
    #: (mode 0600, created on first start) when unset.
    key_encryption_key: SecretStr | None = None
    key_encryption_key_file: Path | None = None
    #: Hard bound (SECURITY.md A.4 #30): a longer TTL is a startup error, in every mode.
    access_token_ttl: int = Field(900, ge=30, le=MAX_ACCESS_TOKEN_TTL)
    leeway: float = Field(30.0, ge=0.0, le=60.0)
    #: The JWK Set's ``Cache-Control: max-age``. A key published by ``keys rotate``
    #: signs only after it has been in the JWK Set this long (SECURITY.md A.7 #49).
    jwks_max_age: int = Field(300, ge=1, le=86_400)
    #: Seconds between maintenance passes (purges, promotion of a published next key).
    maintenance_interval: float = Field(30.0, ge=0.1, le=3600.0)
    allow_registration: bool = True
    default_scopes: list[str] = Field(default_factory=list)
    production: bool = False
    token_cache_size: int = Field(10_000, ge=1)
    #: The bearer token Prometheus sends to ``/metrics`` (its ``authorization`` /
    #: ``bearer_token_file``). Unset: ``/metrics`` is open (``authgate check`` warns
    #: in production, where the counters tell an outsider how logins are going).
    metrics_token: SecretStr | None = None
    #: SECURITY.md A.7 #51: the reverse proxies (addresses or CIDRs, comma-separated)
    #: whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` ``authgate serve`` believes.
    #: Empty: proxy headers are ignored and the client IP is the TCP peer's.
    trusted_proxies: str = ""
    passwords: PasswordSettings = Field(default_factory=PasswordSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    cookies: CookieSettings = Field(default_factory=CookieSettings)
    mfa: MfaSettings = Field(default_factory=MfaSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    webauthn: WebAuthnSettings = Field(default_factory=WebAuthnSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    #: The password login refuses accounts whose address is not verified.
    require_verified_email: bool = False
    #: Where the browser pages live, when not at the issuer (links in messages).
    public_url: str | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        return ",".join(parse_trusted_proxies(value))

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'authgate.db').as_posix()}"
