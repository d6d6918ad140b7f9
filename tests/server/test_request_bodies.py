"""Hostile request bodies: every route answers a clean 4xx, never a 500.

The body limit (64 KiB, :mod:`authgate.web.body_limit`) holds for every route, with or
without a ``Content-Length``; JSON nested deeper than any parser recursion is a 400
or 422; form text is strict UTF-8 (SECURITY.md #35).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from authgate.server import create_app
from authgate.settings import CookieSettings
from authgate.testing import test_settings
from authgate.web.body_limit import DEFAULT_MAX_BODY_BYTES

from .conftest import PASSWORD, LiveServer

MEGABYTE = 1024 * 1024
JSON_ROUTES = ("/users", "/users/me/password", "/auth/cookie/login", "/auth/cookie/mfa")
ALL_POST_ROUTES = (*JSON_ROUTES, "/auth/token", "/auth/revoke", "/auth/introspect")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = test_settings(tmp_path, cookies=CookieSettings(enabled=True, secure=False))
    with TestClient(create_app(settings, pages=False)) as c:
        assert c.post("/users", json={"username": "body-user", "password": PASSWORD}).is_success
        token = c.post("/auth/token", data={"username": "body-user", "password": PASSWORD})
        c.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield c


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_deeply_nested_json_is_a_client_error_on_every_json_route(
    client: TestClient, route: str, depth: int
) -> None:
    r = client.post(route, content=nested(depth), headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"] in ("invalid_request", "http_error")


@pytest.mark.parametrize("route", ALL_POST_ROUTES)
def test_megabyte_body_with_content_length_is_413(client: TestClient, route: str) -> None:
    r = client.post(route, content=b"{" * MEGABYTE, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "request_too_large"
    assert r.headers["cache-control"] == "no-store"


# /auth/introspect checks the caller's scope before it reads anything (403 here).
@pytest.mark.parametrize("route", ALL_POST_ROUTES[:-1])
def test_streamed_body_without_content_length_is_413(client: TestClient, route: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"a" * (32 * 1024)

    ctype = "application/json" if route in JSON_ROUTES else "application/x-www-form-urlencoded"
    r = client.post(route, content=chunks(), headers={"content-type": ctype})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "request_too_large"


def test_body_just_under_the_limit_is_read(client: TestClient) -> None:
    # Same route and padding as above but within the limit: the route itself answers.
    body = b'{"username": "x", "password": "' + b"p" * (DEFAULT_MAX_BODY_BYTES - 100) + b'"}'
    r = client.post("/users", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] != "request_too_large"


def test_cookie_login_json_is_capped_like_a_form(client: TestClient) -> None:
    body = b'{"username": "body-user", "password": "' + b"p" * 20_000 + b'"}'
    r = client.post(
        "/auth/cookie/login", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_request",
        "error_description": "the request body is too large",
    }


def test_invalid_percent_encoded_utf8_is_400_not_a_replacement_character(
    client: TestClient,
) -> None:
    # A password that contains U+FFFD registers fine; the bytes %FF%FE must not become
    # the same password (two byte strings, one credential).
    password = "wobbly-\ufffd\ufffd-orchid-73"
    assert client.post("/users", json={"username": "fffd-user", "password": password}).is_success
    form = {"content-type": "application/x-www-form-urlencoded"}
    for raw in (b"wobbly-%FF%FE-orchid-73", b"wobbly-%C0%80-orchid-73"):
        body = b"grant_type=password&username=fffd-user&password=" + raw
        r = client.post("/auth/token", content=body, headers=form)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"
        cookie = client.post("/auth/cookie/login", content=body, headers=form)
        assert cookie.status_code == 400
        assert cookie.json()["error"] == "invalid_request"
    quoted = "wobbly-%EF%BF%BD%EF%BF%BD-orchid-73"
    ok = client.post(
        "/auth/token",
        content=f"grant_type=password&username=fffd-user&password={quoted}".encode(),
        headers=form,
    )
    assert ok.status_code == 200, ok.text


def test_oversized_body_over_real_http_is_413(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/users", content=b"x" * (2 * MEGABYTE))
        assert r.status_code == 413
        assert r.json()["error"] == "request_too_large"
        # The server still answers on a new connection.
        assert c.get("/healthz").status_code == 200


def test_streamed_body_over_real_http_is_413(live: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * (16 * 1024)

    with httpx.Client(base_url=live.url, timeout=30) as c:
        json_type = {"content-type": "application/json"}
        r = c.post("/users", content=chunks(), headers=json_type)
        assert r.status_code == 413
        assert r.json()["error"] == "request_too_large"
