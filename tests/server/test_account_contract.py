"""The caller's account over HTTP, as a client meets it (issue 13, "behaviour that
surprises"): a password change hands back the caller's new tokens, body errors name
the field, one ``token_type``, user data is never cached, security events carry the
client's IP, and the OpenAPI document lists only what each endpoint can answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import CookieSettings
from authgate.testing import test_settings

from .conftest import NEW_PASSWORD, PASSWORD, LiveServer, serve

JSON = {"content-type": "application/json"}
PROXY_IP = "203.0.113.77"  # uvicorn trusts X-Forwarded-For from loopback by default


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def change(c: httpx.Client, token: str, current: str, new: str, **headers: str) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    return c.post("/users/me/password", json=body, headers={**bearer(token), **headers})


@pytest.fixture(scope="module")
def cookie_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = test_settings(
        tmp_path_factory.mktemp("cookies"), cookies=CookieSettings(enabled=True, secure=False)
    )
    with serve(create_app(settings, clock=FrozenClock(), pages=False)) as (url, _loop):
        yield url


# -- the password change -------------------------------------------------------------


def test_password_change_returns_the_callers_new_pair_and_ends_every_old_token(
    live: LiveServer,
) -> None:
    with live.client() as c:
        live.register(c, "pair-user")
        mine = live.login(c, "pair-user")
        other = live.login(c, "pair-user")
        r = change(c, mine["access_token"], PASSWORD, NEW_PASSWORD)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        new = r.json()
        assert set(new) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert new["token_type"] == "Bearer"
        assert c.get("/users/me", headers=bearer(new["access_token"])).status_code == 200
        for old in (mine, other):
            assert c.get("/users/me", headers=bearer(old["access_token"])).status_code == 401
            gone = c.post(
                "/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]},
            )
            assert gone.json()["error"] == "invalid_grant"
        listed = c.get("/users/me/sessions", headers=bearer(new["access_token"])).json()
        assert [s["current"] for s in listed] == [True]
        rotated = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"]},
        )
        assert rotated.status_code == 200, rotated.text


@pytest.mark.anyio
async def test_no_request_with_the_old_access_token_succeeds_after_the_change_returns(
    live: LiveServer,
) -> None:
    with live.client() as c:
        live.register(c, "race-user")
        old = live.login(c, "race-user")["access_token"]
    changed = asyncio.Event()
    seen: list[tuple[bool, int]] = []  # (sent after the change returned, status)

    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:

        async def me() -> None:
            after = changed.is_set()
            r = await client.get("/users/me", headers=bearer(old))
            seen.append((after, r.status_code))

        async def do_change() -> httpx.Response:
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            r = await client.post("/users/me/password", json=body, headers=bearer(old))
            changed.set()
            return r

        async def staggered(i: int) -> None:
            for _ in range(i % 4):  # spread the burst around the change
                await asyncio.sleep(0)
            await me()

        burst = asyncio.gather(*(staggered(i) for i in range(48)))
        done, _ = await asyncio.gather(do_change(), burst)
        assert done.status_code == 200, done.text
        await asyncio.gather(*(me() for _ in range(24)))  # all sent after it returned
    assert all(status in (200, 401) for _, status in seen), seen
    assert [s for after, s in seen if after and s != 401] == []
    assert sum(1 for after, _ in seen if after) >= 24


def test_password_change_over_the_cookie_transport_sets_new_cookies(cookie_live: str) -> None:
    with httpx.Client(base_url=cookie_live, timeout=30) as c:
        assert c.post("/users", json={"username": "jar-user", "password": PASSWORD}).is_success
        login = c.post("/auth/cookie/login", json={"username": "jar-user", "password": PASSWORD})
        assert login.status_code == 200, login.text
        old_access = c.cookies["authgate-access"]
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        refused = c.post("/users/me/password", json=body)  # no CSRF header
        assert refused.status_code == 403
        r = c.post("/users/me/password", json=body, headers=csrf)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"expires_in", "scope", "csrf_token"}  # no token in JS's reach
        assert r.headers["cache-control"] == "no-store"
        assert c.cookies["authgate-access"] != old_access
        assert c.get("/users/me").status_code == 200
        refreshed = c.post("/auth/cookie/refresh", headers={"X-CSRF-Token": r.json()["csrf_token"]})
        assert refreshed.status_code == 200, refreshed.text
    with httpx.Client(base_url=cookie_live, timeout=30) as stale:
        stale.cookies.set("authgate-access", old_access)
        assert stale.get("/users/me").status_code == 401


# -- body errors ---------------------------------------------------------------------

NESTED = b"[" * 30_000 + b"]" * 30_000
BODY_CASES = [
    ("/users", b'{"username": "x", ', JSON, "body: not valid JSON"),
    (
        "/users",
        b"username=a&password=b",
        {"content-type": "application/x-www-form-urlencoded"},
        "body: must be a JSON object (Content-Type: application/json)",
    ),
    (
        "/users",
        b'{"username": "mail-user", "password": "wobbly-lantern-orchid-73", "email": "nope"}',
        JSON,
        "email: not a valid email address",
    ),
    ("/users", b"", JSON, "body: must be a JSON object"),
    ("/users", b"[]", JSON, "body: must be a JSON object"),
    ("/users", b'{"password": "wobbly-lantern-orchid-73"}', JSON, "username: required"),
    ("/users", NESTED, JSON, "body: not valid JSON"),
    ("/users", b'{"username": "\xff\xfe", "password": "x"}', JSON, "body: not valid JSON"),
    ("/users", b'{"username": 7, "password": "x"}', JSON, "username: must be a string"),
    ("/users/me/password", b"{", JSON, "body: not valid JSON"),
    ("/users/me/password", b"", JSON, "body: must be a JSON object"),
    ("/users/me/password", NESTED, JSON, "body: not valid JSON"),
    (
        "/users/me/password",
        b'{"current_password": "wobbly-lantern-orchid-73", "new_password": ""}',
        JSON,
        "new_password: must not be empty",
    ),
]


@pytest.mark.parametrize(("path", "body", "headers", "description"), BODY_CASES)
def test_a_bad_body_is_422_invalid_request_naming_the_field(
    live: LiveServer, path: str, body: bytes, headers: dict[str, str], description: str
) -> None:
    with live.client() as c:
        c.post("/users", json={"username": "body-owner", "password": PASSWORD})
        token = live.login(c, "body-owner")["access_token"]
        r = c.post(path, content=body, headers={**headers, **bearer(token)})
    assert r.status_code == 422, r.text
    assert r.json() == {"error": "invalid_request", "error_description": description}
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("body", [b"{", NESTED, b'{"\xff": 1}', b"[]"])
def test_a_bad_body_on_an_oauth_endpoint_stays_400_invalid_request(
    live: LiveServer, body: bytes
) -> None:
    with live.client() as c:
        r = c.post("/auth/token", content=body, headers=JSON)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


# -- token_type, caching -------------------------------------------------------------


def test_token_endpoint_introspection_and_password_change_agree_on_bearer(
    live: LiveServer,
) -> None:
    with live.client() as c:
        live.register(c, "type-user")

        async def grant(service: Any) -> None:
            user = await service.get_user_by_username("type-user")
            await service.set_scopes(user.id, ["authgate:introspect"])

        live.call(grant)
        pair = live.login(c, "type-user")
        answer = c.post(
            "/auth/introspect",
            data={"token": pair["access_token"]},
            headers=bearer(pair["access_token"]),
        ).json()
        changed = change(c, pair["access_token"], PASSWORD, NEW_PASSWORD).json()
    assert answer["active"] is True
    assert pair["token_type"] == answer["token_type"] == changed["token_type"] == "Bearer"


def test_every_response_with_user_data_is_no_store(live: LiveServer) -> None:
    with live.client() as c:
        created = c.post("/users", json={"username": "cache-user", "password": PASSWORD})
        token = live.login(c, "cache-user")["access_token"]
        answers = [
            created,
            c.get("/users/me", headers=bearer(token)),
            c.get("/users/me/sessions", headers=bearer(token)),
            c.delete("/users/me/sessions/not-mine", headers=bearer(token)),
        ]
    assert [r.status_code for r in answers] == [201, 200, 200, 404]
    assert [r.headers.get("cache-control") for r in answers] == ["no-store"] * 4


# -- audit events --------------------------------------------------------------------


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[Any]:
    # Any: the audit fields are set through ``extra`` (user_id, ip, ...).
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def test_refresh_reuse_is_a_warning_and_account_events_carry_the_client_ip(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authgate.audit")
    via_proxy = {"X-Forwarded-For": PROXY_IP}
    with live.client() as c:
        registered = c.post(
            "/users", json={"username": "audit-user", "password": PASSWORD}, headers=via_proxy
        )
        assert registered.status_code == 201, registered.text
        first = c.post(
            "/auth/token",
            data={"username": "audit-user", "password": PASSWORD},
            headers=via_proxy,
        ).json()
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = c.post("/auth/token", data=form).json()
        live.clock.advance(live.settings.sessions.reuse_grace + 1)
        assert c.post("/auth/token", data=form).json()["error"] == "invalid_grant"  # replay
        token = live.login(c, "audit-user")["access_token"]
        assert change(c, token, PASSWORD, NEW_PASSWORD, **via_proxy).status_code == 200
        fresh = live.login(c, "audit-user", NEW_PASSWORD)["access_token"]
        ended = c.post("/auth/logout-all", headers={**bearer(fresh), **via_proxy})
        assert ended.status_code == 204
    assert second["access_token"]
    [reuse] = _events(caplog, "refresh_reuse")
    assert reuse.levelno == logging.WARNING
    assert {r.levelno for r in _events(caplog, "login_ok")} == {logging.INFO}
    logins = [r for r in _events(caplog, "login_ok") if r.user_id == reuse.user_id]
    assert logins[0].ip == PROXY_IP  # the login path's IP ...
    for name in ("user_registered", "password_changed", "logout_all"):  # ... and these
        [record] = [r for r in _events(caplog, name) if r.user_id == reuse.user_id]
        assert record.ip == PROXY_IP, name


# -- the OpenAPI document ------------------------------------------------------------

#: What each auth endpoint can answer besides its success (cookie transport on, so the
#: CSRF 403 exists on cookie-authenticated unsafe requests).
DOCUMENTED = {
    ("post", "/users"): {"201", "409", "422", "429", "503"},
    ("get", "/users/me"): {"200", "401", "503"},
    ("post", "/users/me/password"): {"200", "400", "401", "403", "422", "429", "503"},
    ("post", "/users/me/email/verify"): {"202", "401", "403", "404", "409", "429", "503"},
    ("post", "/auth/password-reset"): {"202", "422", "429", "503"},
    ("post", "/auth/email/verify/request"): {"202", "422", "429", "503"},
    ("get", "/users/me/sessions"): {"200", "401", "503"},
    ("delete", "/users/me/sessions/{session_id}"): {"204", "401", "403", "404", "422", "503"},
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cookies = CookieSettings(enabled=True, secure=False)
    app = create_app(test_settings(tmp_path_factory.mktemp("doc"), cookies=cookies))
    doc: dict[str, Any] = TestClient(app).get("/openapi.json").json()
    return doc


@pytest.mark.parametrize(("method", "path"), sorted(DOCUMENTED))
def test_the_document_lists_exactly_the_statuses_a_user_route_can_answer(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    assert set(openapi["paths"][path][method]["responses"]) == DOCUMENTED[(method, path)]


def test_me_answers_what_it_documents_and_never_404(live: LiveServer, tmp_path: Path) -> None:
    with live.client() as c:
        live.register(c, "doc-user")
        token = live.login(c, "doc-user")["access_token"]
        assert c.get("/users/me", headers=bearer(token)).status_code == 200
        assert c.get("/users/me", headers=bearer("a.b.c")).status_code == 401
    down = TestClient(create_app(test_settings(tmp_path)))  # no lifespan: no service
    assert down.get("/users/me", headers=bearer(token)).status_code == 503


def test_every_auth_endpoint_has_a_written_summary(tmp_path: Path) -> None:
    cookies = CookieSettings(enabled=True, secure=False)
    app = create_app(test_settings(tmp_path, cookies=cookies), pages=False)
    routes = [r for r in app.state.authgate.router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    # FastAPI makes "Me" from the function's name when no summary is given.
    assert [r.path for r in routes if not r.summary] == []
    doc = TestClient(app).get("/openapi.json").json()
    summaries = [op["summary"] for item in doc["paths"].values() for op in item.values()]
    assert "Me" not in summaries
    assert "Sessions" not in summaries
