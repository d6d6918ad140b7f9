"""The one exception tree of authgate.

Every failure that crosses the package boundary is one of these; no PyJWT,
cryptography, SQLAlchemy or Redis exception escapes. Each class carries a stable
machine ``code``; the mapping to HTTP lives only in :mod:`authgate.web.errors`.

::

    AuthError
    ├── TokenError                      a presented token is not acceptable
    │   ├── MalformedToken              "malformed"
    │   ├── UnsupportedToken            "unsupported_token"   (JWE, crit, b64, jku, ...)
    │   ├── BadSignature                "bad_signature"
    │   ├── UnknownKey(kid)             "unknown_key"
    │   ├── Expired                     "expired"
    │   ├── NotYetValid                 "not_yet_valid"
    │   ├── InvalidClaim(claim)         "invalid_claim"
    │   ├── WrongTokenType              "wrong_token_type"
    │   ├── Revoked                     "revoked"
    │   └── MissingToken                "missing_token"       (no credentials at all)
    ├── GrantError                      a grant presented to the token endpoint fails
    │   ├── InvalidGrant                "invalid_grant"
    │   │   ├── RefreshReuse            "refresh_reuse"
    │   │   └── EmailNotVerified        "email_not_verified"
    │   ├── InvalidScope                "invalid_scope"
    │   ├── InvalidRequest              "invalid_request"
    │   ├── UnauthorizedClient          "unauthorized_client"
    │   └── InvalidTarget               "invalid_target"
    ├── InvalidClient(basic)            "invalid_client"
    ├── InvalidCredentials              "invalid_credentials"
    │   └── InvalidCode                 "invalid_code"        (a wrong second-factor code)
    ├── InsufficientScope(required)     "insufficient_scope"
    ├── InsufficientUserAuthentication  "insufficient_user_authentication" (RFC 9470)
    ├── MfaRequired(mfa_token, methods) "mfa_required"        (a second step is due)
    ├── CSRFRejected                    "csrf_rejected"       (cookie transport)
    ├── RateLimited(retry_after)        "rate_limited"
    ├── PasswordRejected(reason)        "weak_password"
    ├── UsernameTaken                   "username_taken"
    ├── NothingToVerify                 "nothing_to_verify"   (no unverified address)
    ├── Conflict                        "conflict"
    ├── NotFound                        "not_found"
    ├── UnsafeKey                       "unsafe_key"
    ├── ConfigError                     "unsafe_config"
    ├── JWKSError                       "jwks_error"
    ├── TokenRequestFailed(error)       "token_request_failed" (a service's own token)
    └── StoreUnavailable                "store_unavailable"
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadSignature",
    "CSRFRejected",
    "ConfigError",
    "Conflict",
    "EmailNotVerified",
    "Expired",
    "GrantError",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidClaim",
    "InvalidClient",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "JWKSError",
    "MalformedToken",
    "MfaRequired",
    "MissingToken",
    "NotFound",
    "NotYetValid",
    "NothingToVerify",
    "PasswordRejected",
    "RateLimited",
    "RefreshReuse",
    "Revoked",
    "StoreUnavailable",
    "TokenError",
    "TokenRequestFailed",
    "UnauthorizedClient",
    "UnknownKey",
    "UnsafeKey",
    "UnsupportedToken",
    "UsernameTaken",
    "WrongTokenType",
]


class AuthError(Exception):
    """Base of every authgate error. ``code`` is stable and machine-readable."""

    code = "auth_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code


class TokenError(AuthError):
    """A presented token is not acceptable (maps to 401 ``invalid_token``)."""

    code = "invalid_token"


class MalformedToken(TokenError):
    """Not a well-formed compact JWS: shape, base64url, JSON or size (RFC 7515 §5.2)."""

    code = "malformed"


class UnsupportedToken(TokenError):
    """Well-formed JOSE that authgate refuses on principle (RFC 8725 §3)."""

    code = "unsupported_token"


class BadSignature(TokenError):
    """The signature does not verify, or ``alg`` is not the key's (RFC 8725 §3.1)."""

    code = "bad_signature"


class UnknownKey(TokenError):
    """No key in the ring has the token's ``kid`` (or no ``kid`` and several keys)."""

    code = "unknown_key"

    def __init__(self, kid: str | None) -> None:
        super().__init__("no key with this kid")
        self.kid = kid


class Expired(TokenError):
    """``exp`` has passed, leeway included (RFC 7519 §4.1.4)."""

    code = "expired"


class NotYetValid(TokenError):
    """``nbf`` or ``iat`` lies in the future beyond the leeway (RFC 7519 §4.1.5-6)."""

    code = "not_yet_valid"


class InvalidClaim(TokenError):
    """A required claim is missing, mistyped or wrong (``iss``, ``aud``, ``sub``, ...)."""

    code = "invalid_claim"

    def __init__(self, claim: str, message: str = "") -> None:
        super().__init__(message or f"invalid or missing claim: {claim}")
        self.claim = claim


class WrongTokenType(TokenError):
    """The ``typ`` header is not the kind expected here (RFC 8725 §3.11)."""

    code = "wrong_token_type"


class Revoked(TokenError):
    """The token, its session or its subject's earlier tokens were revoked."""

    code = "revoked"


class GrantError(AuthError):
    """A grant at the token endpoint fails (RFC 6749 §5.2)."""

    code = "invalid_grant"


class InvalidGrant(GrantError):
    """The credentials or refresh token of a grant are invalid (RFC 6749 §5.2)."""

    code = "invalid_grant"


class EmailNotVerified(InvalidGrant):
    """The right password, but the account's email address is not verified yet."""

    code = "email_not_verified"


class RefreshReuse(InvalidGrant):
    """An already-rotated refresh token came back (RFC 9700 §4.14.2)."""

    code = "refresh_reuse"


class InvalidScope(GrantError):
    """The requested scope is unknown or exceeds what was granted (RFC 6749 §5.2)."""

    code = "invalid_scope"


class InvalidRequest(GrantError):
    """A request is malformed: a missing, repeated or oversized parameter (RFC 6749 §5.2)."""

    code = "invalid_request"


class InvalidCredentials(AuthError):
    """A username and password that do not match (never says which one)."""

    code = "invalid_credentials"


class InvalidCode(InvalidCredentials):
    """A second-factor code (TOTP, recovery code) that is wrong or already used."""

    code = "invalid_code"


class InsufficientScope(AuthError):
    """A valid token lacks a scope the endpoint requires (RFC 6750 §3.1)."""

    code = "insufficient_scope"

    def __init__(self, required: frozenset[str] | set[str] | tuple[str, ...]) -> None:
        self.required = frozenset(required)
        super().__init__("missing scope: " + " ".join(sorted(self.required)))


class InsufficientUserAuthentication(AuthError):
    """A valid token whose authentication (``acr`` / ``amr``) is too weak (RFC 9470 §3)."""

    code = "insufficient_user_authentication"

    def __init__(self, message: str, *, acr_values: tuple[str, ...]) -> None:
        self.acr_values = acr_values
        super().__init__(message)


class MfaRequired(AuthError):
    """The password was right; a second step (``mfa_token`` + a method) is due."""

    code = "mfa_required"

    def __init__(self, mfa_token: str, methods: tuple[str, ...]) -> None:
        self.mfa_token = mfa_token
        self.methods = methods
        super().__init__("a second factor is required to complete the sign-in")


class RateLimited(AuthError):
    """Too many attempts; ``retry_after`` is in seconds (RFC 6585 §4)."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"too many attempts, try again in {self.retry_after} s")


class PasswordRejected(AuthError):
    """A new password breaks the password policy; ``reason`` says how."""

    code = "weak_password"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UsernameTaken(AuthError):
    """Registration with a username that already exists (after normalisation)."""

    code = "username_taken"


class NothingToVerify(AuthError):
    """No unverified address to send a verification message to (verified, or none)."""

    code = "nothing_to_verify"


class NotFound(AuthError):
    """The user or session named does not exist (or is not the caller's)."""

    code = "not_found"


class UnsafeKey(AuthError):
    """Key material is unusable or unsafe (RFC 7518 §3.2–3.5, RFC 8725 §3.5)."""

    code = "unsafe_key"


class ConfigError(AuthError):
    """Settings or arguments that are invalid or unsafe (``authgate check``)."""

    code = "unsafe_config"


class JWKSError(AuthError):
    """A fetched JWK Set or metadata document is unusable (the verifier)."""

    code = "jwks_error"


class StoreUnavailable(AuthError):
    """The database or another backing store cannot answer right now."""

    code = "store_unavailable"


class MissingToken(TokenError):
    """The request carries no credentials at all (RFC 6750 §3.1: no error code)."""

    code = "missing_token"


class CSRFRejected(AuthError):
    """A cookie-authenticated unsafe request lacks a matching CSRF token."""

    code = "csrf_rejected"


class UnauthorizedClient(GrantError):
    """The authenticated client may not use this grant type (RFC 6749 §5.2)."""

    code = "unauthorized_client"


class InvalidTarget(GrantError):
    """The ``resource`` is unknown or not allowed for this client or user (RFC 8707 §2)."""

    code = "invalid_target"


class InvalidClient(AuthError):
    """Client authentication failed (RFC 6749 §5.2); ``basic``: it came by HTTP Basic."""

    code = "invalid_client"
    basic = False

    def __init__(self, message: str = "client authentication failed", *, basic: bool = False):
        super().__init__(message)
        self.basic = basic


class Conflict(AuthError):
    """A name or URI that must be unique is already registered."""

    code = "conflict"


class TokenRequestFailed(AuthError):
    """A service could not get its own access token (``error``: the RFC 6749 §5.2 code)."""

    code = "token_request_failed"

    #: ``error`` is the endpoint's RFC 6749 §5.2 code (``invalid_client``,
    #: ``invalid_scope``, ``invalid_target``, ...) when it answered with one, else None
    #: (unreachable, timed out, or not an OAuth answer); ``status`` its HTTP status.

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None):
        super().__init__(message)
        self.error = error
        self.status = status
