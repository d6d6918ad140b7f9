"""The pages' passkey sign-in (``/auth/cookie/passkey``): tokens only in the cookies,
a cross-site request refused (login CSRF), and the second step of a login."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import CookieSettings
from authgate.testing import test_settings
from server.conftest import LiveServer, serve

from ._authenticator import SoftAuthenticator
from .conftest import ISSUER, enrol, login_options, mfa_required, signed_up


@pytest.fixture(scope="module")
def cookie_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    settings = test_settings(
        tmp_path_factory.mktemp("passkey-cookies"),
        issuer=ISSUER,
        cookies=CookieSettings(enabled=True, secure=False),
    )
    app = create_app(settings, clock=clock, pages=False)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


def test_a_cookie_passkey_sign_in_sets_cookies_and_refuses_cross_site(
    cookie_live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with cookie_live.client() as c:
        token = signed_up(cookie_live, c, "cookie-pk")
        assert enrol(c, token, auth).status_code == 201
        c.cookies.clear()
        body = {"credential": auth.get(login_options(c))}
        r = c.post("/auth/cookie/passkey", json=body, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        body = {"credential": auth.get(login_options(c))}
        r = c.post("/auth/cookie/passkey", json=body, headers={"Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200, r.text
        assert "access_token" not in r.json()
        assert "refresh_token" not in r.json()
        assert any("access" in name for name in r.cookies)


def test_a_cookie_second_step_with_a_passkey(cookie_live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with cookie_live.client() as c:
        token = signed_up(cookie_live, c, "cookie-pk-2")
        assert enrol(c, token, auth).status_code == 201
        c.cookies.clear()
        pending = mfa_required(c, "cookie-pk-2")["mfa_token"]
        options = c.post("/auth/passkey/options", json={"mfa_token": pending}).json()
        body = {"credential": auth.get(options), "mfa_token": pending}
        r = c.post("/auth/cookie/passkey", json=body)
        assert r.status_code == 200, r.text
        r = c.post("/auth/cookie/passkey", json=body)  # the mfa_token is spent
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


def test_a_cross_origin_cookie_passkey_without_fetch_metadata_is_refused_before_the_challenge(
    cookie_live: LiveServer,
) -> None:
    """An older browser sends ``Origin`` but no ``Sec-Fetch-Site``: the one login-CSRF
    check of every cookie endpoint refuses it (403) before the assertion's challenge
    is taken, so the real page signs in with that same assertion afterwards."""
    auth = SoftAuthenticator(origin=ISSUER)
    with cookie_live.client() as c:
        token = signed_up(cookie_live, c, "cookie-pk-origin")
        assert enrol(c, token, auth).status_code == 201
        c.cookies.clear()
        body = {"credential": auth.get(login_options(c))}
        r = c.post("/auth/cookie/passkey", json=body, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert r.json()["error"] == "csrf_rejected"
        assert not r.cookies
        r = c.post("/auth/cookie/passkey", json=body, headers={"Origin": cookie_live.url})
        assert r.status_code == 200, r.text
        assert any("access" in name for name in r.cookies)


def test_a_cross_origin_cookie_passkey_second_step_leaves_the_mfa_token(
    cookie_live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with cookie_live.client() as c:
        token = signed_up(cookie_live, c, "cookie-pk-origin-2")
        assert enrol(c, token, auth).status_code == 201
        c.cookies.clear()
        pending = mfa_required(c, "cookie-pk-origin-2")["mfa_token"]
        options = c.post("/auth/passkey/options", json={"mfa_token": pending}).json()
        body = {"credential": auth.get(options), "mfa_token": pending}
        r = c.post("/auth/cookie/passkey", json=body, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = c.post("/auth/cookie/passkey", json=body)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "path",
    ["/auth/cookie/login", "/auth/cookie/mfa", "/auth/cookie/refresh", "/auth/cookie/passkey"],
)
@pytest.mark.parametrize("origin", ["https://evil.example", "http://[::1", "http://[zz]:80"])
def test_every_cookie_sign_in_endpoint_refuses_a_foreign_origin_before_reading_the_body(
    cookie_live: LiveServer, path: str, origin: str
) -> None:
    """A foreign ``Origin``, or one no URL parser can read (no browser sends it): 403,
    never a 500."""
    with cookie_live.client() as c:
        r = c.post(
            path,
            content=b"{not json",
            headers={"Origin": origin, "Content-Type": "application/json"},
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "csrf_rejected"
