"""Refuse unsafe settings before serving (SECURITY.md #11, #30, #42, #44).

Framework-free: :func:`check_settings` returns :class:`Problem` s; ``authgate check``
prints them, and ``authgate serve`` refuses to start on any error when
``settings.production`` is true.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from authgate._net import is_loopback
from authgate.errors import ConfigError, UnsafeKey
from authgate.settings import MAX_ACCESS_TOKEN_TTL, Settings
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


def _placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or any(m in v for m in _PLACEHOLDER_MARKERS)


def _secret_problems(settings: Settings, hs: bool) -> list[Problem]:
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


def _key_file_problems(settings: Settings, hs: bool) -> list[Problem]:
    path = settings.signing_key_file
    if path is None:
        return []
    if hs:
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


def _rsa_size_problems(settings: Settings) -> list[Problem]:
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


def check_settings(
    settings: Settings, *, host: str | None = "127.0.0.1", workers: int = 1
) -> list[Problem]:
    """Every problem with ``settings`` for a server bound to ``host`` with ``workers``."""
    out: list[Problem] = []
    alg = settings.signing_algorithm
    if alg not in SUPPORTED_ALGORITHMS:
        out.append(
            Problem(
                "error",
                "AUTHGATE_SIGNING_ALGORITHM",
                f"{alg!r} is not one of {', '.join(SUPPORTED_ALGORITHMS)}",
            )
        )
    hs = alg.startswith("HS")
    out += _secret_problems(settings, hs)
    out += _key_file_problems(settings, hs)
    out += _rsa_size_problems(settings)
    if settings.access_token_ttl > MAX_ACCESS_TOKEN_TTL:
        out.append(
            Problem(
                "error",
                "AUTHGATE_ACCESS_TOKEN_TTL",
                f"access tokens must live at most {MAX_ACCESS_TOKEN_TTL} s (RFC 9700 §2.3)",
            )
        )
    if settings.sessions.idle_ttl > settings.sessions.absolute_ttl:
        out.append(
            Problem("warning", "AUTHGATE_SESSIONS__IDLE_TTL", "is longer than the absolute limit")
        )
    issuer = urlsplit(settings.issuer)
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        out.append(Problem("error", "AUTHGATE_ISSUER", "must be an absolute http(s) URL"))
    elif issuer.query or issuer.fragment:
        out.append(
            Problem("error", "AUTHGATE_ISSUER", "must have no query or fragment (RFC 8414 §2)")
        )
    elif settings.production and issuer.scheme != "https":
        out.append(Problem("error", "AUTHGATE_ISSUER", "must be https in production"))
    if not settings.audience.strip():
        out.append(Problem("error", "AUTHGATE_AUDIENCE", "must not be empty"))
    cookies = settings.cookies
    if cookies.enabled and not cookies.secure and not is_loopback(host):
        out.append(
            Problem(
                "error",
                "AUTHGATE_COOKIES__SECURE",
                f"cookies without Secure are allowed only on loopback, not on {host}",
            )
        )
    if cookies.enabled and cookies.secure:
        for name in (cookies.access_name, cookies.refresh_name, cookies.csrf_name):
            if not name.startswith("__Host-"):
                out.append(
                    Problem("warning", "AUTHGATE_COOKIES", f"{name} lacks the __Host- prefix")
                )
    if settings.allow_registration and not settings.throttle.enabled:
        out.append(
            Problem(
                "error",
                "AUTHGATE_THROTTLE__ENABLED",
                "registration is open while login throttling is off",
            )
        )
    if workers > 1 and not settings.redis_url:
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
    if settings.production and settings.database_url is None:
        out.append(Problem("warning", "AUTHGATE_DATABASE_URL", "SQLite in production"))
    out += _metrics_problems(settings)
    out += _deployment_problems(settings)
    return out


def _metrics_problems(settings: Settings) -> list[Problem]:
    secret = settings.metrics_token
    token = secret.get_secret_value() if secret is not None else None
    if token is None:
        if settings.production:
            return [Problem("warning", "AUTHGATE_METRICS_TOKEN", "unset: /metrics is public")]
        return []
    if _placeholder(token) or len(token) < 32:
        return [Problem("error", "AUTHGATE_METRICS_TOKEN", "is a placeholder or shorter than 32")]
    return []


def _deployment_problems(settings: Settings) -> list[Problem]:
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


def errors_of(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]
