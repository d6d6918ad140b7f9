"""The one error mapping: store outages are 503, unexpected errors a JSON 500 without a
traceback, each exception class its documented status."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.errors import (
    AuthError,
    CSRFRejected,
    Expired,
    InsufficientScope,
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    MissingToken,
    NotFound,
    PasswordRejected,
    RateLimited,
    RefreshReuse,
    StoreUnavailable,
    UsernameTaken,
)
from authgate.server import create_app
from authgate.testing import test_settings
from authgate.web.errors import error_response, install_error_handlers


@pytest.mark.parametrize(
    ("exc", "status", "error"),
    [
        (MissingToken(), 401, "invalid_token"),
        (Expired(), 401, "invalid_token"),
        (InsufficientScope({"a"}), 403, "insufficient_scope"),
        (CSRFRejected(), 403, "csrf_rejected"),
        (RateLimited(7), 429, "rate_limited"),
        (InvalidGrant(), 400, "invalid_grant"),
        (RefreshReuse(), 400, "invalid_grant"),
        (InvalidScope(), 400, "invalid_scope"),
        (InvalidRequest("x"), 422, "invalid_request"),
        (InvalidCredentials(), 400, "invalid_credentials"),
        (PasswordRejected("too short"), 422, "weak_password"),
        (UsernameTaken(), 409, "username_taken"),
        (NotFound(), 404, "not_found"),
        (StoreUnavailable(), 503, "temporarily_unavailable"),
        (AuthError(), 400, "auth_error"),
        (RuntimeError("boom"), 500, "server_error"),
    ],
)
def test_each_error_has_its_status_and_code(exc: Exception, status: int, error: str) -> None:
    response = error_response(exc)
    assert response.status_code == status
    assert bytes(response.body).startswith(b'{"error":"' + error.encode())
    assert response.headers["cache-control"] == "no-store"


def test_oauth_endpoints_use_rfc6749_codes() -> None:
    assert error_response(InvalidRequest("x"), oauth=True).status_code == 400
    body = bytes(error_response(InvalidCredentials(), oauth=True).body)
    assert b'"invalid_grant"' in body
    assert error_response(RateLimited(3)).headers["retry-after"] == "3"


def test_unexpected_exception_is_a_json_500_without_traceback() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": "server_error", "error_description": "internal error"}
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text


def test_service_outage_is_503_with_retry_after(tmp_path: Path) -> None:
    client = TestClient(create_app(test_settings(tmp_path)))  # lifespan not run: no service
    r = client.post("/auth/token", data={"username": "a", "password": "b"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["error"] == "temporarily_unavailable"
    assert client.get("/users/me", headers={"Authorization": "Bearer a.b.c"}).status_code == 503
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_closed_registration_has_no_route(tmp_path: Path) -> None:
    app = create_app(test_settings(tmp_path, allow_registration=False))
    with TestClient(app) as client:
        r = client.post("/users", json={"username": "a", "password": "b"})
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"
        assert "/users" not in client.get("/openapi.json").json()["paths"]


def test_every_exception_class_has_a_deliberate_answer() -> None:
    # The table holds each class of the tree, directly or through its nearest parent;
    # only a misconfiguration is a 500.
    import authgate.errors as tree

    for name in tree.__all__:
        cls = getattr(tree, name)
        exc = cls.__new__(cls)
        exc.message, exc.required, exc.retry_after, exc.reason = "m", frozenset(), 1, "r"
        status = error_response(exc).status_code
        assert status < 500 or name in (
            "ConfigError",
            "UnsafeKey",
            "StoreUnavailable",
            "JWKSError",
            # A service could not get its own token for an outgoing call (verifier's
            # ClientCredentialsAuth): its upstream is unavailable, like the JWKS.
            "TokenRequestFailed",
        ), name
