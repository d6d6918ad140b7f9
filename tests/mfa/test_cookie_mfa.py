"""The login's second step over the cookie transport (``POST /auth/cookie/mfa``),
over HTTP against a real server (SQLite and PostgreSQL): the ``mfa_required`` answer of
``/auth/cookie/login`` is completed with a TOTP or recovery code into the same cookies
and the same ``amr`` / ``acr`` as the ``mfa`` grant gives; the ``mfa_token`` is single
use (also under a burst), the per-account wrong-code throttle holds (shared with the
grant), and a cross-site completion is refused before the token is touched
(SECURITY.md A.6 #42, A.7 #47, #58)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from authgate.service import AuthService
from authgate.settings import CookieSettings
from authgate.tokens import decode_unverified
from mfa.conftest import (
    PASSWORD,
    MfaServer,
    enrol,
    enrolled_user,
    mfa_grant,
    mfa_token,
)

pytestmark = pytest.mark.anyio

#: Plain-HTTP loopback: no ``Secure``, so the names lose their ``__Host-`` prefix.
COOKIES = CookieSettings(enabled=True, secure=False)
ACCESS, REFRESH, CSRF = "authgate-access", "authgate-refresh", "authgate-csrf"


@pytest.fixture
def server(start_mfa_server: Any, database_url: str) -> MfaServer:
    started: MfaServer = start_mfa_server(database_url, cookies=COOKIES)
    return started


@pytest.fixture
def throttled(start_mfa_server: Any, throttle_store: dict[str, str]) -> MfaServer:
    started: MfaServer = start_mfa_server(cookies=COOKIES, **throttle_store)
    return started


def claims(token: str) -> dict[str, Any]:
    """The claims (the server's own token, read for inspection)."""
    return decode_unverified(token)[1]


def set_cookies(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


async def cookie_login(client: httpx.AsyncClient, username: str) -> str:
    """The ``mfa_token`` of a cookie login that needs its second step."""
    r = await client.post("/auth/cookie/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "mfa_required"
    assert set_cookies(r) == []
    token: str = r.json()["mfa_token"]
    return token


async def cookie_mfa(
    client: httpx.AsyncClient, token: str, code: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/auth/cookie/mfa", json={"mfa_token": token, "code": code}, headers=headers
    )


async def failures(server: MfaServer, user_id: str) -> int:
    async def count(service: AuthService) -> int:
        async with service.db.read() as tx:
            return len(await tx.audit.events(user=user_id, event="mfa_failed"))

    return await asyncio.to_thread(server.call, count)


async def test_cookie_login_then_cookie_mfa_sets_cookies_carrying_the_mfa_grants_amr_and_acr(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        r = await cookie_mfa(client, token, server.code(user.secret))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"expires_in", "scope", "csrf_token"}  # no token in the body
        assert r.headers["Cache-Control"] == "no-store"
        assert {c.split("=", 1)[0] for c in set_cookies(r)} == {ACCESS, REFRESH, CSRF}
        assert client.cookies[CSRF] == body["csrf_token"]
        cookie_claims = claims(client.cookies[ACCESS])
        assert cookie_claims["sub"] == user.user_id
        assert cookie_claims["amr"] == ["pwd", "otp", "mfa"]
        assert cookie_claims["acr"] == "urn:authgate:acr:mfa"
        # The cookie alone authenticates, and passes the step-up checks.
        me = await client.get("/users/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "alice"
        for path in ("/step-up/acr", "/step-up/amr"):
            assert (await client.get(path)).status_code == 200, path
        # The same claims as the token endpoint's mfa grant gives (next step's code).
        server.next_step()
        granted = await mfa_grant(
            client, await mfa_token(client, "alice"), otp=server.code(user.secret)
        )
        assert granted.status_code == 200, granted.text
        grant_claims = claims(granted.json()["access_token"])
        assert set(cookie_claims) == set(grant_claims)
        for name in ("sub", "amr", "acr", "scope", "aud", "iss"):
            assert cookie_claims.get(name) == grant_claims.get(name), name
        # A refresh of the cookie session keeps them.
        r = await client.post("/auth/cookie/refresh", headers={"X-CSRF-Token": body["csrf_token"]})
        assert r.status_code == 200, r.text
        assert claims(client.cookies[ACCESS])["amr"] == ["pwd", "otp", "mfa"]


async def test_a_wrong_cookie_mfa_code_is_invalid_grant_without_cookies_and_the_token_survives(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        right = server.code(user.secret)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        for bad in (wrong, "12345", "abcd-efgh-ijkl-mnop"):
            r = await cookie_mfa(client, token, bad)
            assert r.status_code == 400, r.text
            assert r.json()["error"] == "invalid_grant"
            assert set_cookies(r) == []
        assert await failures(server, user.user_id) == 3
        assert (await client.get("/users/me")).status_code == 401
        r = await cookie_mfa(client, token, right)
        assert r.status_code == 200, r.text


async def test_an_mfa_token_completes_one_login_whichever_endpoint_used_it(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        assert (await cookie_mfa(client, token, server.code(user.secret))).status_code == 200
        server.next_step()
        again = await cookie_mfa(client, token, server.code(user.secret))
        assert again.status_code == 400, again.text
        assert again.json()["error"] == "invalid_grant"
        assert set_cookies(again) == []
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 400, r.text
        # And the other way round: a token the mfa grant used is dead here too.
        token = await cookie_login(client, "alice")
        assert (await mfa_grant(client, token, otp=server.code(user.secret))).status_code == 200
        server.next_step()
        r = await cookie_mfa(client, token, server.code(user.secret))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"


async def test_a_burst_of_twenty_cookie_mfa_completions_of_one_token_signs_in_once(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        code = server.code(user.secret)
        answers = await asyncio.gather(*(cookie_mfa(client, token, code) for _ in range(20)))
        winners = [r for r in answers if r.status_code == 200]
        assert len(winners) == 1, [r.text for r in answers]
        losers = [r for r in answers if r.status_code != 200]
        assert {r.status_code for r in losers} <= {400, 429}
        assert all(set_cookies(r) == [] for r in losers)
        # One new session: the enrolment's password session and this one.
        r = await client.get("/users/me/sessions")
        assert r.status_code == 200, r.text
        assert len(r.json()) == 2


async def test_cookie_mfa_takes_a_recovery_code_as_a_form_once(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        code = user.recovery_codes[0]
        form = {"mfa_token": await cookie_login(client, "alice"), "code": f" {code.upper()} "}
        r = await client.post("/auth/cookie/mfa", data=form)
        assert r.status_code == 200, r.text
        assert claims(client.cookies[ACCESS])["amr"] == ["pwd", "otp", "mfa"]
        r = await cookie_mfa(client, await cookie_login(client, "alice"), code)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"


async def test_a_cross_site_cookie_mfa_is_refused_before_the_token_is_spent(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        code = server.code(user.secret)
        for headers in (
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            r = await cookie_mfa(client, token, code, headers)
            assert r.status_code == 403, r.text
            assert r.json()["error"] == "csrf_rejected"
            assert set_cookies(r) == []
        assert await failures(server, user.user_id) == 0
        r = await cookie_mfa(client, token, code, {"Origin": server.url})
        assert r.status_code == 200, r.text


async def test_a_burst_of_wrong_cookie_mfa_codes_is_checked_at_most_five_times(
    throttled: MfaServer,
) -> None:
    server = throttled
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await cookie_login(client, "alice")
        right = server.code(user.secret)
        wrong = [f"{(int(right) + 1 + i) % 1_000_000:06d}" for i in range(30)]
        answers = await asyncio.gather(*(cookie_mfa(client, token, w) for w in wrong))
        checked = [r for r in answers if r.status_code == 400]
        refused = [r for r in answers if r.status_code == 429]
        assert 1 <= len(checked) <= 5
        assert len(checked) + len(refused) == 30
        assert all(r.json()["error"] == "invalid_grant" for r in checked)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert await failures(server, user.user_id) == len(checked)
        for attempt in range(5):
            r = await cookie_mfa(client, token, wrong[attempt])
            if r.status_code == 429:
                break
            assert r.status_code == 400, r.text
        assert r.status_code == 429
        assert await failures(server, user.user_id) == 5
        # The right code is refused unchecked, here and at the mfa grant (one counter).
        r = await cookie_mfa(client, token, right)
        assert r.status_code == 429, r.text
        assert set_cookies(r) == []
        r = await mfa_grant(client, token, otp=right)
        assert r.status_code == 429, r.text
        assert await failures(server, user.user_id) == 5


@pytest.mark.parametrize(
    "body",
    [
        b'{"mfa_token": "x"}',
        b'{"code": "123456"}',
        b'{"mfa_token": "x", "code": 123456}',
        b'{"mfa_token": "x", "code": "   "}',
        b'{"mfa_token": "x", "code": "' + b"1" * 257 + b'"}',
        b'["x", "123456"]',
        b"{not json",
    ],
)
async def test_bad_cookie_mfa_bodies_are_invalid_request(
    start_mfa_server: Any, body: bytes
) -> None:
    server: MfaServer = start_mfa_server(cookies=COOKIES)
    async with server.client() as client:
        r = await client.post(
            "/auth/cookie/mfa", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"


async def test_require_verified_email_holds_for_the_cookie_second_step(
    start_mfa_server: Any,
) -> None:
    server: MfaServer = start_mfa_server(cookies=COOKIES, require_verified_email=True)

    def verified(user_id: str, flag: bool) -> None:
        async def job(service: AuthService) -> None:
            async with service.db.write() as tx:
                email = "alice@example.com"
                assert await tx.users.set_email(
                    user_id, email=email, email_key=email, verified=flag
                )

        server.call(job)

    async with server.client() as client:
        body = {"username": "alice", "password": PASSWORD, "email": "alice@example.com"}
        r = await client.post("/users", json=body)  # an address: required under the setting
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        await asyncio.to_thread(verified, user_id, True)
        user = await enrol(server, client, "alice", user_id)
        await asyncio.to_thread(verified, user_id, False)
        # Judged after the password, before any mfa_token: no second step to complete.
        r = await client.post(
            "/auth/cookie/login", json={"username": "alice", "password": PASSWORD}
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"
        assert "mfa_token" not in r.json()
        assert set_cookies(r) == []
        await asyncio.to_thread(verified, user_id, True)
        r = await cookie_mfa(client, await cookie_login(client, "alice"), server.code(user.secret))
        assert r.status_code == 200, r.text
        assert claims(client.cookies[ACCESS])["amr"] == ["pwd", "otp", "mfa"]
