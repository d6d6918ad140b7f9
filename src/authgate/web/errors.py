"""The ONE mapping from the exception tree (:mod:`authgate.errors`) to HTTP.

Status, body and headers of every error authgate sends come from :func:`error_response`,
which reads them from one table (``_RULES``: exception class → status, code,
description, headers; the nearest class in the exception's MRO wins):

- RFC 6750 §3: every 401 carries ``WWW-Authenticate: Bearer realm="…"``; with a bad
  token it adds ``error="invalid_token", error_description="…"``, and with no
  credentials at all it adds nothing (§3.1: the error SHOULD NOT be included when the
  request lacks any authentication information). The body is the same for every 401,
  whatever the reason (SECURITY.md A.0: uniform 401s). Both are built once per realm
  (:func:`token_refusal`): the refusal is cheaper than the success path.
- RFC 6750 §3.1: a missing scope is 403 ``error="insufficient_scope", scope="…"``.
- RFC 9470 §3: a token whose ``acr`` / ``amr`` is too weak is 401
  ``error="insufficient_user_authentication"`` with ``acr_values="…"``.
- A password login that needs a second step is 403 ``mfa_required`` with the
  ``mfa_token`` and ``mfa_methods`` in the body (never tokens).
- RFC 6749 §5.2: token-endpoint failures are 400 ``{"error", "error_description"}``.
- A body the endpoint cannot use (not JSON, not an object, a field missing or
  invalid) is ``invalid_request`` in words that name the field
  (:func:`describe_validation`): 422 (RFC 9110 §15.5.21), and 400 on the OAuth
  endpoints (RFC 6749 §5.2).
- 429 carries ``Retry-After``; a store outage is 503 with a clear body.
- Errors are never cached (RFC 6749 §5.1 asks ``no-store`` of token responses; we
  apply it to every error) and never carry a traceback (last-resort handler).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketClose

from authgate.errors import (
    AuthError,
    ConfigError,
    Conflict,
    CSRFRejected,
    EmailNotVerified,
    GrantError,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidClient,
    InvalidCode,
    InvalidCredentials,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    JWKSError,
    MfaRequired,
    MissingToken,
    NotFound,
    NothingToVerify,
    PasswordRejected,
    RateLimited,
    StoreUnavailable,
    TokenError,
    TokenRequestFailed,
    UnauthorizedClient,
    UnsafeKey,
    UsernameTaken,
)
from authgate.web.error_body import (
    DEFAULT_REALM,
    INVALID_TOKEN_DESCRIPTION,
    ErrorBody,
    _quote,
    oauth_error,
)
from authgate.web.refusal import token_refusal
from authgate.web.validation import describe_validation

__all__ = [
    "DEFAULT_REALM",
    "OAUTH_ENDPOINT_ATTR",
    "ErrorBody",
    "describe_validation",
    "error_response",
    "install_error_handlers",
    "oauth_error",
    "responses",
    "token_refusal",
    "too_large_response",
    "websocket_refusal",
]

logger = logging.getLogger("authgate.web")

#: Endpoints marked with this attribute speak RFC 6749 §5.2 errors (400 invalid_request).
OAUTH_ENDPOINT_ATTR = "__authgate_oauth__"
_WS_POLICY_VIOLATION = 1008


def too_large_response(limit: int) -> JSONResponse:
    """RFC 9110 §15.5.14: the body is larger than the server will read (the same body
    the ``HTTPException(413)`` handler below gives)."""
    return oauth_error(413, "request_too_large", f"the request body is larger than {limit} bytes")


HeaderFn = Callable[[Exception, str], Mapping[str, str]]


@lru_cache(maxsize=16)
def _challenge(realm: str) -> Mapping[str, str]:
    """RFC 6750 §3: the one 401 challenge (SECURITY.md A.0: uniform 401s); built once
    per realm."""
    return {
        "WWW-Authenticate": (
            f'Bearer realm="{_quote(realm)}", error="invalid_token", '
            f'error_description="{INVALID_TOKEN_DESCRIPTION}"'
        )
    }


def _invalid_token(exc: Exception, realm: str) -> Mapping[str, str]:
    return _challenge(realm)


def _no_credentials(exc: Exception, realm: str) -> Mapping[str, str]:
    # RFC 6750 §3.1: no error attribute when the request carried no credentials.
    return {"WWW-Authenticate": f'Bearer realm="{_quote(realm)}"'}


def _insufficient_scope(exc: Exception, realm: str) -> Mapping[str, str]:
    scope = _scope_of(exc)
    return {
        "WWW-Authenticate": (
            f'Bearer realm="{_quote(realm)}", error="insufficient_scope", scope="{_quote(scope)}"'
        )
    }


def _scope_of(exc: Exception) -> str:
    return " ".join(sorted(exc.required)) if isinstance(exc, InsufficientScope) else ""


def _basic_challenge(exc: Exception, realm: str) -> Mapping[str, str]:
    # RFC 6749 §5.2: a client that tried HTTP Basic gets a 401 with its challenge.
    if isinstance(exc, InvalidClient) and exc.basic:
        return {"WWW-Authenticate": f'Basic realm="{_quote(realm)}"'}
    return {}


def _step_up(exc: Exception, realm: str) -> Mapping[str, str]:
    # RFC 9470 §3: the challenge names the acr values that would do.
    acr = " ".join(getattr(exc, "acr_values", ()))
    message = exc.message if isinstance(exc, AuthError) else ""
    return {
        "WWW-Authenticate": (
            f'Bearer realm="{_quote(realm)}", error="insufficient_user_authentication", '
            f'error_description="{_quote(message)}", acr_values="{_quote(acr)}"'
        )
    }


def _mfa_body(exc: Exception) -> Mapping[str, Any]:
    return {
        "mfa_token": getattr(exc, "mfa_token", ""),
        "mfa_methods": list(getattr(exc, "methods", ())),
    }


def _retry_after(exc: Exception, realm: str) -> Mapping[str, str]:
    return {"Retry-After": str(exc.retry_after if isinstance(exc, RateLimited) else 5)}


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one exception class answers. ``error`` / ``description`` None: the
    exception's own ``code`` / ``message``."""

    status: int
    error: str | None = None
    description: str | None = None
    headers: HeaderFn | None = None
    #: The RFC 6749 §5.2 answer on the OAuth endpoints, when it differs.
    oauth: _Rule | None = None
    #: Add ``scope`` to the body (RFC 6750 §3.1 insufficient_scope).
    with_scope: bool = False
    #: A server fault worth an error log line (misconfiguration).
    log: bool = False
    #: More members of the body, from the exception.
    body: Callable[[Exception], Mapping[str, Any]] | None = None


_UNAVAILABLE = _Rule(
    503,
    "temporarily_unavailable",
    "the authentication store is unavailable; try again shortly",
    headers=_retry_after,
)
_MISCONFIGURED = _Rule(500, "server_error", "the server is misconfigured", log=True)
_INTERNAL = _Rule(500, "server_error", "internal error")

#: Exception class → answer. :func:`error_response` takes the entry of the nearest
#: class in the exception's MRO, so a subclass listed here overrides its parent.
_RULES: Mapping[type[Exception], _Rule] = {
    TokenError: _Rule(401, "invalid_token", INVALID_TOKEN_DESCRIPTION, _invalid_token),
    MissingToken: _Rule(401, "invalid_token", INVALID_TOKEN_DESCRIPTION, _no_credentials),
    InsufficientScope: _Rule(
        403,
        "insufficient_scope",
        "the access token lacks a required scope",
        _insufficient_scope,
        with_scope=True,
    ),
    InsufficientUserAuthentication: _Rule(401, headers=_step_up),
    # Not an error of the client: the password was right and a second step is due.
    MfaRequired: _Rule(403, "mfa_required", body=_mfa_body),
    InvalidCode: _Rule(
        400,
        "invalid_code",
        "the code is not valid",
        oauth=_Rule(400, "invalid_grant", "the code is not valid"),
    ),
    CSRFRejected: _Rule(403, "csrf_rejected"),
    RateLimited: _Rule(429, "rate_limited", headers=_retry_after),
    # RFC 6749 §5.2: bad resource-owner credentials are invalid_grant; one message for
    # unknown user, wrong password and disabled account (SECURITY.md #37).
    InvalidCredentials: _Rule(
        400,
        "invalid_credentials",
        "the password is not correct",
        oauth=_Rule(400, "invalid_grant", "invalid username or password"),
    ),
    # A body the endpoint cannot use: 422 (RFC 9110 §15.5.21), 400 on the OAuth
    # endpoints (RFC 6749 §5.2).
    InvalidRequest: _Rule(422, "invalid_request", oauth=_Rule(400, "invalid_request")),
    InvalidScope: _Rule(400, "invalid_scope"),
    # RFC 6749 §5.2: one answer whatever failed (unknown client, secret, key, replay).
    InvalidClient: _Rule(
        401, "invalid_client", "client authentication failed", headers=_basic_challenge
    ),
    UnauthorizedClient: _Rule(400, "unauthorized_client"),
    InvalidTarget: _Rule(400, "invalid_target"),  # RFC 8707 §2
    Conflict: _Rule(409, "conflict"),
    # InvalidGrant and RefreshReuse look the same to the caller: a replay must not
    # learn that it was detected.
    GrantError: _Rule(400, "invalid_grant", "the grant is invalid, expired or revoked"),
    # Judged after the password (issue 16): only the account's owner learns it.
    EmailNotVerified: _Rule(400, "invalid_grant"),
    PasswordRejected: _Rule(422, "weak_password"),
    # The message says which: the username or the email address (issue 16).
    UsernameTaken: _Rule(409, "username_taken"),
    NotFound: _Rule(404, "not_found"),
    # RFC 9110 §15.5.10: the account's state (verified, or no address) conflicts.
    NothingToVerify: _Rule(409, "nothing_to_verify"),
    StoreUnavailable: _UNAVAILABLE,
    JWKSError: _UNAVAILABLE,
    # A service's outgoing call could not get its token: its caller sees 503.
    TokenRequestFailed: _UNAVAILABLE,
    ConfigError: _MISCONFIGURED,
    UnsafeKey: _MISCONFIGURED,
    AuthError: _Rule(400),
}


def _rule(exc: Exception) -> _Rule:
    for cls in type(exc).__mro__:
        found = _RULES.get(cls)
        if found is not None:
            return found
    return _INTERNAL


def error_response(exc: Exception, *, oauth: bool = False, realm: str = DEFAULT_REALM) -> Response:
    """The HTTP answer for ``exc`` from the table above; ``oauth`` selects the RFC 6749
    §5.2 variant on the token endpoints. A refused token takes the prebuilt 401
    (:func:`token_refusal`, the same answer the table describes)."""
    if isinstance(exc, TokenError):
        return token_refusal(realm, missing=type(exc) is MissingToken)
    rule = _rule(exc)
    if oauth and rule.oauth is not None:
        rule = rule.oauth
    message = exc.message if isinstance(exc, AuthError) else "internal error"
    if rule.log:
        logger.error("server misconfiguration: %s", message)
    return oauth_error(
        rule.status,
        rule.error or (exc.code if isinstance(exc, AuthError) else "server_error"),
        rule.description or message,
        headers=rule.headers(exc, realm) if rule.headers is not None else None,
        extra=(
            {"scope": _scope_of(exc)}
            if rule.with_scope
            else (rule.body(exc) if rule.body is not None else None)
        ),
    )


def _is_oauth(conn: HTTPConnection) -> bool:
    return bool(getattr(conn.scope.get("endpoint"), OAUTH_ENDPOINT_ATTR, False))


def websocket_refusal(error: Exception | None) -> WebSocketClose:
    """A WebSocket refused before (or after) accept: close 1008 (RFC 6455 §7.4.1, policy
    violation) with the stable error code as the reason, never the token. Before accept
    the server answers the upgrade with 403."""
    if error is None:
        return WebSocketClose(_WS_POLICY_VIOLATION, "missing_token")
    code = error.code if isinstance(error, AuthError) else "error"
    return WebSocketClose(_WS_POLICY_VIOLATION, code)


def install_error_handlers(app: FastAPI, *, realm: str = DEFAULT_REALM) -> None:
    """Register the mapping on ``app`` (idempotent)."""
    if getattr(app.state, "authgate_error_handlers", False):
        return
    app.state.authgate_error_handlers = True

    async def on_auth_error(conn: HTTPConnection, exc: Exception) -> Response | WebSocketClose:
        if isinstance(conn, WebSocket):
            return websocket_refusal(exc)
        return error_response(exc, oauth=_is_oauth(conn), realm=realm)

    async def on_validation(conn: HTTPConnection, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        description = describe_validation(errors)
        return oauth_error(400 if _is_oauth(conn) else 422, "invalid_request", description)

    async def on_ws_validation(conn: HTTPConnection, exc: Exception) -> WebSocketClose:
        return WebSocketClose(_WS_POLICY_VIOLATION, "invalid_request")

    async def on_http(conn: HTTPConnection, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        names = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        error = names.get(
            exc.status_code, "http_error" if exc.status_code < 500 else "server_error"
        )
        return oauth_error(exc.status_code, error, str(exc.detail), headers=exc.headers)

    async def last_resort(conn: HTTPConnection, exc: Exception) -> Response:
        logger.error("unhandled %s on %s", type(exc).__name__, conn.url.path, exc_info=exc)
        return oauth_error(500, "server_error", "internal error")

    # Starlette sends whatever a handler returns, WebSocketClose included.
    app.add_exception_handler(AuthError, on_auth_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(WebSocketRequestValidationError, on_ws_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, last_resort)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route may return."""
    text = {
        400: "Invalid request (RFC 6749 §5.2 error body)",
        401: "Missing or invalid access token (RFC 6750 §3, WWW-Authenticate: Bearer)",
        403: "Insufficient scope (RFC 6750 §3.1) or CSRF check failed",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many attempts; see Retry-After",
        503: "The authentication store is unavailable",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}
