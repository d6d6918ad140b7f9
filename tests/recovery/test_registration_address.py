"""Registration under ``AUTHGATE_REQUIRE_VERIFIED_EMAIL`` (issue 16), over HTTP against a
real server and a real SMTP server, on SQLite and on PostgreSQL: an account without an
address could never be verified, so never sign in; ``POST /users`` and the sign-up page
refuse it before any row is written. With an address the verification message is
queued with the account; without the setting an address stays optional."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from authgate.settings import CookieSettings
from authgate.store.schema import email_outbox, email_tokens, users
from recovery._smtp import TestSmtp, token_in
from recovery.conftest import live_server, recovery_settings, row_counts
from server.conftest import PASSWORD, LiveServer
from service._pg import fresh_database

REQUIRED = {
    "error": "invalid_request",
    "error_description": "email: required when addresses must be verified",
}
BURST = 20
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _counts(live: LiveServer) -> tuple[int, ...]:
    """(users, outbox rows, email tokens) in the server's database."""
    return row_counts(live, users, email_outbox, email_tokens)


def _server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    smtp: TestSmtp,
    *,
    strict: bool,
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("strict" if strict else "lax")
    cookies = CookieSettings(enabled=True, secure=False)  # the pages too
    if request.param == "sqlite":
        settings = recovery_settings(data, smtp, cookies=cookies, require_verified_email=strict)
        yield from live_server(settings)
        return
    with fresh_database() as url:
        settings = recovery_settings(
            data, smtp, cookies=cookies, require_verified_email=strict, database_url=url
        )
        yield from live_server(settings)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def strict(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp
) -> Iterator[LiveServer]:
    """``require_verified_email`` on; SQLite, or a fresh PostgreSQL database."""
    yield from _server(request, tmp_path_factory, smtp, strict=True)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def lax(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp
) -> Iterator[LiveServer]:
    """The default: addresses need not be verified."""
    yield from _server(request, tmp_path_factory, smtp, strict=False)


def _tag(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.id)


def _csrf(c: httpx.Client, path: str) -> str:
    found = _HIDDEN.search(c.get(path).text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_no_address_under_the_setting_is_a_422_and_writes_nothing(
    strict: LiveServer, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    before = _counts(strict)
    with strict.client() as c:
        for body in (
            {"username": f"bare-{t}", "password": PASSWORD},
            {"username": f"bare-{t}", "password": PASSWORD, "email": None},
        ):
            r = c.post("/users", json=body)
            assert r.status_code == 422, r.text
            assert r.json() == REQUIRED
            assert r.headers["cache-control"] == "no-store"
        assert (
            c.post("/auth/token", data={"username": f"bare-{t}", "password": PASSWORD}).json()[
                "error"
            ]
            == "invalid_grant"
        )  # no such account

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(base_url=strict.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post("/users", json={"username": f"rush-{t}", "password": PASSWORD})
                    for _ in range(BURST)
                )
            )

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers] == [422] * BURST
    assert all(a.json() == REQUIRED for a in answers)
    assert _counts(strict) == before  # no user, no message, no token


def test_an_address_under_the_setting_is_a_201_and_a_message_in_the_outbox(
    strict: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    address = f"careful-{t}@example.com"
    before = _counts(strict)
    with strict.client() as c:
        body = {"username": f"careful-{t}", "password": PASSWORD, "email": address}
        r = c.post("/users", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["email"] == address
        assert r.json()["email_verified"] is False
        users, outbox, tokens = _counts(strict)
        assert (users, outbox, tokens) == (before[0] + 1, before[1] + 1, before[2] + 1)
        login = {"username": f"careful-{t}", "password": PASSWORD}
        assert c.post("/auth/token", data=login).status_code == 400  # not verified yet
        token = token_in(smtp.wait_for(address, subject="Confirm")[0])
        assert c.post("/auth/email/verify", json={"token": token}).status_code == 204
        assert c.post("/auth/token", data=login).status_code == 200


def test_without_the_setting_an_address_stays_optional(
    lax: LiveServer, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    before = _counts(lax)
    with lax.client() as c:
        r = c.post("/users", json={"username": f"plain-{t}", "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert r.json()["email"] is None
        assert _counts(lax) == (before[0] + 1, before[1], before[2])  # no message
        lax.login(c, f"plain-{t}")
        form = {"username": f"page-{t}", "password": PASSWORD, "email": ""}
        signup = c.post("/signup", data={**form, "csrf_token": _csrf(c, "/")})
        assert (signup.status_code, signup.headers["location"]) == (303, "/account?m=welcome")
    with lax.client() as c:
        page = c.get("/").text
        assert re.search(r'<input id="signup-email" name="email" type="email"', page)
        field = re.search(r'<input id="signup-email"[^>]*>', page)
        assert field is not None
        assert 'autocomplete="email"' in field.group(0)
        assert " required" not in field.group(0)
        assert "Email address (optional)" in page


def test_the_sign_up_page_asks_for_the_address_and_says_check_your_inbox(
    strict: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    address = f"reader-{t}@example.com"
    with strict.client() as c:
        field = re.search(r'<input id="signup-email"[^>]*>', c.get("/").text)
        assert field is not None
        assert 'type="email"' in field.group(0)
        assert 'autocomplete="email"' in field.group(0)
        assert " required" in field.group(0)
        before = _counts(strict)
        form = {"username": f"reader-{t}", "password": PASSWORD, "email": ""}
        refused = c.post("/signup", data={**form, "csrf_token": _csrf(c, "/")})
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("text/html")
        assert "Enter your email address" in refused.text
        assert f'value="reader-{t}"' in refused.text  # the username is kept
        assert _counts(strict) == before
        bad = c.post("/signup", data={**form, "email": "no-at-sign", "csrf_token": _csrf(c, "/")})
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("text/html")
        assert "email is not valid" in bad.text
        assert _counts(strict) == before
        forged = c.post("/signup", data={**form, "email": address, "csrf_token": "forged"})
        assert forged.status_code == 403
        assert _counts(strict) == before
        r = c.post("/signup", data={**form, "email": address, "csrf_token": _csrf(c, "/")})
        assert (r.status_code, r.headers["location"]) == (303, "/?m=check_inbox")
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
        assert not [v for v in cookies if "-access=" in v or "-refresh=" in v]  # not signed in
        assert "Check your inbox" in c.get(r.headers["location"]).text
        assert _counts(strict)[:2] == (before[0] + 1, before[1] + 1)
        taken = c.post("/signup", data={**form, "email": address, "csrf_token": _csrf(c, "/")})
        assert taken.status_code == 400
        assert "That username is taken" in taken.text
        other = {**form, "username": f"second-{t}", "email": address.upper()}
        taken = c.post("/signup", data={**other, "csrf_token": _csrf(c, "/")})
        assert taken.status_code == 400
        assert "That address has an account" in taken.text
        smtp.wait_for(address, subject="Confirm")
        # Signing in before the link is opened: a page with the new-link button, not JSON.
        signin = {"username": f"reader-{t}", "password": PASSWORD, "csrf_token": _csrf(c, "/")}
        locked = c.post("/signin", data=signin)
        assert locked.status_code == 403
        assert locked.headers["content-type"].startswith("text/html")
        assert "Confirm your email address first" in locked.text
        assert 'id="verify-request-button"' in locked.text
