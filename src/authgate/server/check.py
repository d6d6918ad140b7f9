"""Refuse unsafe settings before serving (SECURITY.md #11, #30, #42, #44).

Framework-free: :func:`check_settings` returns :class:`Problem` s; ``authgate check``
prints them, and ``authgate serve`` refuses to start on any error when
``settings.production`` is true.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from authgate._net import is_loopback
from authgate.errors import ConfigError, UnsafeKey
from authgate.settings import Settings
from authgate.tokens import SUPPORTED_ALGORITHMS, hmac_key, load_pem

__all__ = ["PLACEHOLDER_SECRETS", "Problem", "check_settings", "errors_of"]

#: Values people leave in config files (OWASP Secrets Management CS; SECURITY.md #44).
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "secret",
        "secretkey",
        "secret-key",
        "secret_key",
        "mysecret",
        "supersecret",
        "password",
        "default",
        "example",
        "test",
        "testing",
        "dev",
        "development",
        "todo",
        "fixme",
        "xxx",
        "placeholder",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "insecure",
        "notasecret",
    }
)
_PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "your-secret",
    "your_secret",
    "replace-me",
    "replace_me",
    "placeholder",
    "insecure",
)


@dataclass(frozen=True, slots=True)
class Problem:
    level: Literal["error", "warning"]
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.setting}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Target:
    """Where the settings will run: the address bound (``None``: unknown) and the
    number of worker processes."""

    host: str | None
    workers: int


def _is_hmac(settings: Settings) -> bool:
    return settings.signing_algorithm.startswith("HS")


def _placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or any(m in v for m in _PLACEHOLDER_MARKERS)


def _secret_problems(settings: Settings, target: _Target) -> list[Problem]:
    hs = _is_hmac(settings)
    out: list[Problem] = []
    alg = settings.signing_algorithm
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    if hs and not secret:
        out.append(Problem("error", "AUTHGATE_SECRET_KEY", f"{alg} needs a secret key"))
    if not hs and secret:
        out.append(
            Problem(
                "error",
                "AUTHGATE_SECRET_KEY",
                f"a secret is set but {alg} is not an HMAC algorithm; remove it "
                "(RFC 8725 §3.1: one kind of key per verifier)",
            )
        )
    if secret:
        found = len(out)
        if _placeholder(secret):
            out.append(Problem("error", "AUTHGATE_SECRET_KEY", "is a placeholder value"))
        # The key rules add length, leaked-list and randomness checks (RFC 8725 §3.5);
        # one line per problem, so not after a placeholder was already reported.
        if hs and len(out) == found:
            try:
                hmac_key(secret, alg)
            except UnsafeKey as exc:
                out.append(Problem("error", "AUTHGATE_SECRET_KEY", exc.message))
    kek = settings.key_encryption_key.get_secret_value() if settings.key_encryption_key else None
    if kek and (_placeholder(kek) or len(kek) < 32):
        out.append(
            Problem("error", "AUTHGATE_KEY_ENCRYPTION_KEY", "is a placeholder or shorter than 32")
        )
    return out


def _key_file_problems(settings: Settings, target: _Target) -> list[Problem]:
    path = settings.signing_key_file
    if path is None:
        return []
    if _is_hmac(settings):
        return [Problem("error", "AUTHGATE_SIGNING_KEY_FILE", "HMAC uses AUTHGATE_SECRET_KEY")]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [
            Problem("error", "AUTHGATE_SIGNING_KEY_FILE", f"cannot read {path}: {exc.strerror}")
        ]
    try:
        key = load_pem(data, alg=settings.signing_algorithm)
    except UnsafeKey as exc:
        return [Problem("error", "AUTHGATE_SIGNING_KEY_FILE", exc.message)]
    if not key.has_private:
        return [
            Problem("error", "AUTHGATE_SIGNING_KEY_FILE", "is a public key; need the private key")
        ]
    return []


#: NIST SP 800-57 Pt 1 Rev. 5 §5.6.1.1: 2048-bit RSA gives 112-bit security (accepted
#: through 2030); 3072 bits give 128 (SECURITY.md A.7 #49).
RECOMMENDED_RSA_BITS = 3072


def _rsa_size_problems(settings: Settings, target: _Target) -> list[Problem]:
    """A warning (not an error: 2048 bits are still accepted) for a short RSA key."""
    path = settings.signing_key_file
    if path is None or not settings.signing_algorithm.startswith(("RS", "PS")):
        return []
    try:
        jwk = load_pem(Path(path).read_bytes(), alg=settings.signing_algorithm).public_jwk()
    except (OSError, UnsafeKey):
        return []  # reported by _key_file_problems
    n = str(jwk["n"])
    bits = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    if bits >= RECOMMENDED_RSA_BITS:
        return []
    return [
        Problem(
            "warning",
            "AUTHGATE_SIGNING_KEY_FILE",
            f"a {bits}-bit RSA key; use at least {RECOMMENDED_RSA_BITS} bits "
            "(NIST SP 800-57 Pt 1 §5.6.1.1)",
        )
    ]


def _algorithm_problems(settings: Settings, target: _Target) -> list[Problem]:
    alg = settings.signing_algorithm
    if alg in SUPPORTED_ALGORITHMS:
        return []
    return [
        Problem(
            "error",
            "AUTHGATE_SIGNING_ALGORITHM",
            f"{alg!r} is not one of {', '.join(SUPPORTED_ALGORITHMS)}",
        )
    ]


def _session_problems(settings: Settings, target: _Target) -> list[Problem]:
    # The access-token TTL needs no rule here: Settings bounds it (SECURITY.md A.4 #30).
    if settings.sessions.idle_ttl > settings.sessions.absolute_ttl:
        return [
            Problem("warning", "AUTHGATE_SESSIONS__IDLE_TTL", "is longer than the absolute limit")
        ]
    return []


def _issuer_problems(settings: Settings, target: _Target) -> list[Problem]:
    issuer = urlsplit(settings.issuer)
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        return [Problem("error", "AUTHGATE_ISSUER", "must be an absolute http(s) URL")]
    if issuer.query or issuer.fragment:
        return [Problem("error", "AUTHGATE_ISSUER", "must have no query or fragment (RFC 8414 §2)")]
    if settings.production and issuer.scheme != "https":
        return [Problem("error", "AUTHGATE_ISSUER", "must be https in production")]
    return []


def _audience_problems(settings: Settings, target: _Target) -> list[Problem]:
    if not settings.audience.strip():
        return [Problem("error", "AUTHGATE_AUDIENCE", "must not be empty")]
    return []


def _cookie_problems(settings: Settings, target: _Target) -> list[Problem]:
    cookies = settings.cookies
    if not cookies.enabled:
        return []
    if not cookies.secure:
        if is_loopback(target.host):
            return []
        return [
            Problem(
                "error",
                "AUTHGATE_COOKIES__SECURE",
                f"cookies without Secure are allowed only on loopback, not on {target.host}",
            )
        ]
    return [
        Problem("warning", "AUTHGATE_COOKIES", f"{name} lacks the __Host- prefix")
        for name in (cookies.access_name, cookies.refresh_name, cookies.csrf_name)
        if not name.startswith("__Host-")
    ]


def _registration_problems(settings: Settings, target: _Target) -> list[Problem]:
    if settings.allow_registration and not settings.throttle.enabled:
        return [
            Problem(
                "error",
                "AUTHGATE_THROTTLE__ENABLED",
                "registration is open while login throttling is off",
            )
        ]
    return []


def _redis_problems(settings: Settings, target: _Target) -> list[Problem]:
    out: list[Problem] = []
    if target.workers > 1 and not settings.redis_url:
        out.append(
            Problem(
                "error" if settings.production else "warning",
                "AUTHGATE_REDIS_URL",
                "without Redis, each worker throttles logins on its own and revocations "
                "reach the other workers only by database polling",
            )
        )
    if "redis_namespace" in settings.model_fields_set and not settings.redis_url:
        out.append(
            Problem(
                "warning",
                "AUTHGATE_REDIS_NAMESPACE",
                "is set but AUTHGATE_REDIS_URL is not: there is no Redis to keep apart",
            )
        )
    return out


def _database_problems(settings: Settings, target: _Target) -> list[Problem]:
    if settings.production and settings.database_url is None:
        return [Problem("warning", "AUTHGATE_DATABASE_URL", "SQLite in production")]
    return []


def _metrics_problems(settings: Settings, target: _Target) -> list[Problem]:
    secret = settings.metrics_token
    token = secret.get_secret_value() if secret is not None else None
    if token is None:
        if settings.production:
            return [Problem("warning", "AUTHGATE_METRICS_TOKEN", "unset: /metrics is public")]
        return []
    if _placeholder(token) or len(token) < 32:
        return [Problem("error", "AUTHGATE_METRICS_TOKEN", "is a placeholder or shorter than 32")]
    return []


def _email_problems(settings: Settings, target: _Target) -> list[Problem]:
    """Account recovery (issue 16): in production, messages must be sent, and their
    reset links must not cross a network in clear text."""
    secret = settings.email.smtp_url
    if secret is None:
        if not settings.production:
            return []
        where = settings.data_dir / "outbox"
        return [Problem("warning", "AUTHGATE_EMAIL__SMTP_URL", f"unset: messages go to {where}")]
    parts = urlsplit(secret.get_secret_value())
    if parts.scheme.lower() == "smtp" and not is_loopback(parts.hostname):
        return [
            Problem(
                "error" if settings.production else "warning",
                "AUTHGATE_EMAIL__SMTP_URL",
                "smtp:// to another host sends reset links in clear text: use "
                "smtp+starttls:// or smtps://",
            )
        ]
    return []


def _deployment_problems(settings: Settings, target: _Target) -> list[Problem]:
    """SECURITY.md A.7 #52: data files other local users can read (also on a deployment
    made before files were created private); A.7 #51: a proxy list that trusts anyone."""
    from authgate.store.files import loose_modes, sqlite_companions
    from authgate.store.url import normalize_url, sqlite_path

    paths = [settings.data_dir]
    try:
        db = sqlite_path(normalize_url(settings.resolved_database_url()))
    except ConfigError:  # a bad URL is open_service's error to report
        db = None
    if db is not None:
        paths += [db.parent, *sqlite_companions(db)]
    if settings.key_encryption_key is None:
        paths.append(settings.key_encryption_key_file or settings.data_dir / "kek.key")
    if settings.signing_key_file is not None:
        paths.append(Path(settings.signing_key_file))
    out = [
        Problem(
            "warning",
            "AUTHGATE_DATA_DIR",
            f"{path} is mode {mode:04o}: other local users can read it "
            f"(chmod {'700' if path.is_dir() else '600'})",
        )
        for path, mode in loose_modes(dict.fromkeys(paths))
    ]
    for entry in filter(None, settings.trusted_proxies.split(",")):
        if entry.endswith("/0"):
            out.append(
                Problem(
                    "warning",
                    "AUTHGATE_TRUSTED_PROXIES",
                    f"{entry} trusts every client to name its own IP address",
                )
            )
    return out


#: Every rule, in the order ``authgate check`` reports their problems.
_RULES: tuple[Callable[[Settings, _Target], list[Problem]], ...] = (
    _algorithm_problems,
    _secret_problems,
    _key_file_problems,
    _rsa_size_problems,
    _session_problems,
    _issuer_problems,
    _audience_problems,
    _cookie_problems,
    _registration_problems,
    _redis_problems,
    _database_problems,
    _metrics_problems,
    _email_problems,
    _deployment_problems,
)


def check_settings(
    settings: Settings, *, host: str | None = "127.0.0.1", workers: int = 1
) -> list[Problem]:
    """Every problem with ``settings`` for a server bound to ``host`` with ``workers``:
    each rule of ``_RULES`` in turn."""
    target = _Target(host, workers)
    return [problem for rule in _RULES for problem in rule(settings, target)]


def errors_of(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]
