"""Where passkeys meet the other features, over HTTP against real servers:

* sign-in options need no credential, so a flood cannot grow ``webauthn_challenges``
  without bound (SECURITY.md A.7 #53): a per-IP limit (429 + ``Retry-After``) and a
  cap on outstanding challenges (the oldest evicted), while a normal user signs in;
* ``require_verified_email`` holds for the passkey sign-in (token and cookie) too;
* with ``public_url`` set, the relying party is where the pages are.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import CookieSettings, ThrottleSettings, WebAuthnSettings
from authgate.testing import test_settings
from server.conftest import PASSWORD, LiveServer, serve

from ._authenticator import SoftAuthenticator
from .conftest import ISSUER, enrol, login_options, passkey_grant, sign_in, signed_up

PAGES = "https://pages.example.test"
PER_IP = 20
CAP = 50


@contextlib.contextmanager
def _live(data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    settings = test_settings(
        data_dir,
        issuer=ISSUER,
        default_scopes=["items:read"],
        throttle=ThrottleSettings(registrations_per_ip_per_hour=1000),
        **overrides,
    )
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


@pytest.fixture(scope="module")
def pages_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Pages at ``PAGES`` (the issuer elsewhere); tight flood limits."""
    webauthn = WebAuthnSettings(login_options_per_ip_per_minute=PER_IP, max_pending_logins=CAP)
    with _live(tmp_path_factory.mktemp("pk-pages"), public_url=PAGES, webauthn=webauthn) as live:
        yield live


def pending_logins(live: LiveServer) -> int:
    (db,) = Path(live.settings.data_dir).glob("*.db")
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM webauthn_challenges WHERE purpose = 'login'"
        ).fetchone()
    return int(count)


async def _burst(url: str, n: int, ip: Any) -> list[httpx.Response]:
    # The burst queues on the client's 100 connections: waiting for one is not a
    # failure of the server (no pool timeout), each answer still has 60 s.
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(60, pool=None)) as c:
        return await asyncio.gather(
            *(c.post("/auth/passkey/options", headers={"X-Forwarded-For": ip(i)}) for i in range(n))
        )


# -- 1. unauthenticated challenges are bounded ------------------------------------------


def test_a_flood_of_sign_in_options_from_one_ip_is_limited_and_a_user_still_signs_in(
    pages_live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=PAGES)
    headers = {"X-Forwarded-For": "198.51.100.7"}
    with pages_live.client() as c:
        token = signed_up(pages_live, c, "flood-victim")
        assert enrol(c, token, auth).status_code == 201
        before = pending_logins(pages_live)
        flood = _burst(pages_live.url, 1000, lambda i: "203.0.113.9")
        answers = asyncio.run(flood)
        codes = [r.status_code for r in answers]
        assert codes.count(200) == PER_IP
        assert codes.count(429) == 1000 - PER_IP
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert pending_logins(pages_live) <= before + PER_IP
        r = c.post("/auth/passkey/options", headers=headers)
        assert r.status_code == 200, r.text
        assertion = auth.get(r.json())
        r = c.post("/auth/token", data=passkey_grant(assertion), headers=headers)
        assert r.status_code == 200, r.text


def test_a_flood_from_many_ips_keeps_at_most_the_cap_of_outstanding_challenges(
    pages_live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=PAGES)
    with pages_live.client() as c:
        token = signed_up(pages_live, c, "many-ips-victim")
        assert enrol(c, token, auth).status_code == 201
        answers = asyncio.run(_burst(pages_live.url, 300, lambda i: f"10.9.{i // 250}.{i % 250}"))
        assert {r.status_code for r in answers} == {200}
        assert pending_logins(pages_live) <= CAP  # SQLite: one writer, each trims
        r = sign_in(c, auth)
        assert r.status_code == 200, r.text


# -- 3. the relying party follows public_url --------------------------------------------


def test_with_public_url_the_relying_party_is_the_pages_host(pages_live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=PAGES)
    with pages_live.client() as c:
        token = signed_up(pages_live, c, "pages-rp")
        r = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["rp"]["id"] == "pages.example.test"
        assert enrol(c, token, auth).status_code == 201
        options = login_options(c)
        assert options["rpId"] == "pages.example.test"
        # The issuer's origin is not where the pages run: refused.
        wrong = auth.get(options, origin=ISSUER)
        r = c.post("/auth/token", data=passkey_grant(wrong))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        assert sign_in(c, auth).status_code == 200


# -- 2. require_verified_email holds for passkeys ---------------------------------------


@pytest.fixture(scope="module")
def two_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """One database, two servers: ``open_live`` lets anyone in (to sign up and add a
    passkey), ``strict`` requires a verified address."""
    data_dir = tmp_path_factory.mktemp("pk-verified")
    cookies = CookieSettings(enabled=True, secure=False)
    with (
        _live(data_dir) as open_live,
        _live(data_dir, require_verified_email=True, cookies=cookies) as strict,
    ):
        yield open_live, strict


def _verify_address(live: LiveServer, username: str) -> None:
    async def job(service: Any) -> None:
        async with service.db.write() as tx:
            user = await tx.users.by_key(username)
            assert user is not None
            email = f"{username}@example.test"
            assert await tx.users.set_email(user.id, email=email, email_key=email, verified=True)

    live.call(job)


def test_require_verified_email_refuses_a_passkey_sign_in_until_verified(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    open_live, strict = two_servers
    auth = SoftAuthenticator(origin=ISSUER)
    with open_live.client() as c:
        token = signed_up(open_live, c, "unverified-pk")
        assert enrol(c, token, auth).status_code == 201
    with strict.client() as c:
        r = sign_in(c, auth)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"
        assert "verify" in r.json()["error_description"]
        # The pages' cookie sign-in takes the same road.
        body = {"credential": auth.get(login_options(c))}
        r = c.post("/auth/cookie/passkey", json=body)
        assert r.status_code == 400, r.text
        assert not any("access" in name for name in r.cookies)
        # The password (the mfa grant's first step) is refused before any mfa_token.
        r = c.post(
            "/auth/token",
            data={"username": "unverified-pk", "password": PASSWORD},
        )
        assert r.status_code == 400, r.text
        assert "mfa_token" not in r.json()
        _verify_address(strict, "unverified-pk")
        assert sign_in(c, auth).status_code == 200


def test_a_burst_of_passkey_sign_ins_of_an_unverified_account_opens_no_session(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    open_live, strict = two_servers
    auth = SoftAuthenticator(origin=ISSUER)
    with open_live.client() as c:
        token = signed_up(open_live, c, "unverified-burst")
        assert enrol(c, token, auth).status_code == 201
    with strict.client() as c:
        assertions = [auth.get(login_options(c)) for _ in range(4)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=strict.url, timeout=60) as ac:
            return await asyncio.gather(
                *(ac.post("/auth/token", data=passkey_grant(a)) for a in assertions)
            )

    codes = sorted(r.status_code for r in asyncio.run(burst()))
    assert 200 not in codes
    assert set(codes) <= {400, 429}
