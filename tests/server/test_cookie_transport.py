"""The browser cookie transport through the real service: ``__Host-`` cookies,
double-submit CSRF on unsafe methods, login CSRF, refresh and logout."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.server import create_app
from authgate.settings import CookieSettings
from authgate.testing import test_settings

from .conftest import PASSWORD


def make_client(tmp_path: Path, *, secure: bool) -> TestClient:
    settings = test_settings(tmp_path, cookies=CookieSettings(enabled=True, secure=secure))
    base = "https://testserver" if secure else "http://testserver"
    return TestClient(create_app(settings, pages=False), base_url=base)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, secure=False) as c:
        assert c.post("/users", json={"username": "cookie-user", "password": PASSWORD}).is_success
        yield c


def login(c: TestClient) -> str:
    r = c.post("/auth/cookie/login", json={"username": "cookie-user", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert "access_token" not in r.json()
    csrf: str = r.json()["csrf_token"]
    assert c.cookies.get("authgate-csrf") == csrf
    return csrf


def test_cookie_attributes_are_host_prefixed_httponly_secure(tmp_path: Path) -> None:
    with make_client(tmp_path, secure=True) as c:
        c.post("/users", json={"username": "cookie-user", "password": PASSWORD})
        r = c.post(
            "/auth/cookie/login",
            data={"username": "cookie-user", "password": PASSWORD},
        )
        assert r.status_code == 200
        raw = r.headers.get_list("set-cookie")
    jar = {}
    for header in raw:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        jar.update({k: (m, header.lower()) for k, m in parsed.items()})
    access, access_raw = jar["__Host-authgate-access"]
    refresh, refresh_raw = jar["__Host-authgate-refresh"]
    csrf, csrf_raw = jar["__Host-authgate-csrf"]
    for morsel, header in ((access, access_raw), (refresh, refresh_raw), (csrf, csrf_raw)):
        assert morsel["path"] == "/"
        assert "secure" in header
        assert "domain" not in header
    assert "httponly" in access_raw
    assert "samesite=lax" in access_raw
    assert "httponly" in refresh_raw
    assert "samesite=strict" in refresh_raw
    assert "httponly" not in csrf_raw


def test_cookie_authenticates_safe_requests(client: TestClient) -> None:
    login(client)
    r = client.get("/users/me")
    assert r.status_code == 200
    assert r.json()["username"] == "cookie-user"


def test_unsafe_cookie_request_without_csrf_header_is_403(client: TestClient) -> None:
    csrf = login(client)
    r = client.post("/auth/logout-all")
    assert r.status_code == 403
    assert r.json()["error"] == "csrf_rejected"
    wrong = client.post("/auth/logout-all", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    ok = client.post("/auth/logout-all", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 204
    assert client.get("/users/me").status_code == 401


def test_bearer_header_requests_need_no_csrf_token(client: TestClient) -> None:
    r = client.post("/auth/token", data={"username": "cookie-user", "password": PASSWORD})
    token = r.json()["access_token"]
    client.cookies.clear()
    assert (
        client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    )


def test_cookie_refresh_rotates_and_needs_csrf(client: TestClient) -> None:
    csrf = login(client)
    old_refresh = client.cookies.get("authgate-refresh")
    assert client.post("/auth/cookie/refresh").status_code == 403
    r = client.post("/auth/cookie/refresh", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert client.cookies.get("authgate-refresh") != old_refresh
    assert client.get("/users/me").status_code == 200


def test_cross_site_login_is_refused(client: TestClient) -> None:
    body = {"username": "cookie-user", "password": PASSWORD}
    evil = client.post("/auth/cookie/login", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    site = client.post("/auth/cookie/login", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert site.status_code == 403
    same = client.post("/auth/cookie/login", json=body, headers={"Origin": "http://testserver"})
    assert same.status_code == 200


def test_cookie_logout_ends_the_session_and_clears_cookies(client: TestClient) -> None:
    csrf = login(client)
    access = client.cookies.get("authgate-access")
    assert client.post("/auth/cookie/logout").status_code == 403
    r = client.post("/auth/cookie/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert client.cookies.get("authgate-access") is None
    client.cookies.set("authgate-access", access or "")
    assert client.get("/users/me").status_code == 401


def test_bad_cookie_login_bodies_are_400(client: TestClient) -> None:
    for body in ({"username": "cookie-user"}, {"username": 1, "password": 2}, [1, 2]):
        r = client.post("/auth/cookie/login", json=body)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
    wrong = client.post("/auth/cookie/login", json={"username": "cookie-user", "password": "bad"})
    assert wrong.json()["error"] == "invalid_grant"
