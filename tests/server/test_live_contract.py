"""The HTTP contract, end to end against a real uvicorn on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import User

from .conftest import NEW_PASSWORD, PASSWORD, LiveServer

BAD_TOKEN = (
    'Bearer realm="authgate", error="invalid_token", '
    'error_description="the access token is missing, invalid, expired or revoked"'
)
# RFC 6750 §3.1: no authentication information at all gets no error attribute (the
# body is still every 401's).
NO_TOKEN = 'Bearer realm="authgate"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh_form(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token}


def test_login_answers_rfc6749_token_response_with_no_store(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "login-user")
        r = c.post("/auth/token", data={"username": "login-user", "password": PASSWORD})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["pragma"] == "no-cache"
        body = r.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == live.settings.access_token_ttl
        assert body["scope"] == "items:read items:write"
        narrowed = live.login(c, "login-user", scope="items:read")
        assert narrowed["scope"] == "items:read"
        me = c.get("/users/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["username"] == "login-user"


def test_bad_credentials_are_one_invalid_grant_for_unknown_wrong_and_disabled(
    live: LiveServer,
) -> None:
    with live.client() as c:
        live.register(c, "cred-user")
        live.register(c, "disabled-user")

        async def disable(service: AuthServiceProtocol) -> None:
            user = await service.get_user_by_username("disabled-user")
            await service.disable_user(user.id)

        live.call(disable)
        wrong = c.post("/auth/token", data={"username": "cred-user", "password": "nope-nope"})
        unknown = c.post("/auth/token", data={"username": "ghost-user", "password": "nope-nope"})
        disabled = c.post("/auth/token", data={"username": "disabled-user", "password": PASSWORD})
        for r in (wrong, unknown, disabled):
            assert r.status_code == 400
            assert r.headers["cache-control"] == "no-store"
            assert r.json()["error"] == "invalid_grant"
        assert wrong.content == unknown.content == disabled.content
        assert sorted(wrong.headers.keys()) == sorted(disabled.headers.keys())


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("username=a&username=b&password=x", None, "invalid_request"),
        ("username=a", None, "invalid_request"),
        ("grant_type=password&password=x", None, "invalid_request"),
        ("grant_type=authorization_code", None, "unsupported_grant_type"),
        ("grant_type=refresh_token", None, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=a&refresh_token=b", None, "invalid_request"),
        ('{"username": "a", "password": "b"}', "application/json", "invalid_request"),
        ("%ff%fe=1", None, "invalid_request"),
        ("username=a%00b&password=x", None, "invalid_request"),
        ("", None, "invalid_request"),
    ],
)
def test_token_endpoint_rejects_bad_requests(
    live: LiveServer, body: str, content_type: str | None, error: str
) -> None:
    headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
    with live.client() as c:
        r = c.post("/auth/token", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error


def test_unknown_scope_is_invalid_scope(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "scope-user")
        r = c.post(
            "/auth/token",
            data={"username": "scope-user", "password": PASSWORD, "scope": "admin:everything"},
        )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"


def test_repeated_failures_are_429_with_retry_after(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "victim-user")
        statuses = []
        for _ in range(live.settings.throttle.max_failures + 1):
            r = c.post("/auth/token", data={"username": "victim-user", "password": "wrong-pw"})
            statuses.append(r.status_code)
        assert statuses[0] == 400
        assert statuses[-1] == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "rate_limited"


def test_refresh_rotates_and_a_replay_ends_the_session(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "refresh-user")
        first = live.login(c, "refresh-user")
        r = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        broader = c.post(
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": second["refresh_token"],
                "scope": "items:read admin",
            },
        )
        assert broader.json()["error"] == "invalid_scope"
        live.clock.advance(live.settings.sessions.reuse_grace + 1)
        replay = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        after = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        )
        assert after.status_code == 400
        dead = c.get("/users/me", headers=bearer(second["access_token"]))
        assert dead.status_code == 401
        assert dead.headers["www-authenticate"] == BAD_TOKEN


def test_an_access_token_is_not_a_refresh_token(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "kinds-user")
        pair = live.login(c, "kinds-user")
        r = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["access_token"]},
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        assert c.get("/users/me", headers=bearer(pair["refresh_token"])).status_code == 401


def test_logout_kills_the_access_token_and_the_refresh_token(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "logout-user")
        pair = live.login(c, "logout-user")
        other = live.login(c, "logout-user")
        assert c.post("/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
        r = c.get("/users/me", headers=bearer(pair["access_token"]))
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == BAD_TOKEN
        again = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        )
        assert again.status_code == 400
        assert c.get("/users/me", headers=bearer(other["access_token"])).status_code == 200
        assert c.post("/auth/logout").status_code == 401


def test_logout_all_ends_every_session(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "everywhere-user")
        one = live.login(c, "everywhere-user")
        two = live.login(c, "everywhere-user")
        assert c.post("/auth/logout-all", headers=bearer(one["access_token"])).status_code == 204
        for pair in (one, two):
            assert c.get("/users/me", headers=bearer(pair["access_token"])).status_code == 401
        assert c.post("/auth/logout-all").headers["www-authenticate"] == NO_TOKEN


def test_revoke_answers_200_even_for_garbage_and_revokes_refresh_tokens(
    live: LiveServer,
) -> None:
    with live.client() as c:
        assert c.post("/auth/revoke", data={"token": "garbage"}).status_code == 200
        assert (
            c.post("/auth/revoke", data={"token": "x", "token_type_hint": "weird"}).status_code
            == 200
        )
        missing = c.post("/auth/revoke", data={})
        assert missing.status_code == 400
        assert missing.json()["error"] == "invalid_request"
        live.register(c, "revoke-user")
        pair = live.login(c, "revoke-user")
        r = c.post(
            "/auth/revoke",
            data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"},
        )
        assert r.status_code == 200
        again = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        )
        assert again.status_code == 400
        access = live.login(c, "revoke-user")["access_token"]
        assert c.post("/auth/revoke", data={"token": access}).status_code == 200
        assert c.get("/users/me", headers=bearer(access)).status_code == 401


def test_introspection_needs_the_scope_and_answers_active_or_not(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "auditor-user")
        live.register(c, "subject-user")

        async def grant(service: AuthServiceProtocol) -> User:
            user = await service.get_user_by_username("auditor-user")
            return await service.set_scopes(user.id, ["authgate:introspect"])

        live.call(grant)
        auditor = live.login(c, "auditor-user")["access_token"]
        subject = live.login(c, "subject-user")["access_token"]
        no_scope = c.post("/auth/introspect", data={"token": auditor}, headers=bearer(subject))
        assert no_scope.status_code == 403
        assert no_scope.headers["www-authenticate"] == (
            'Bearer realm="authgate", error="insufficient_scope", scope="authgate:introspect"'
        )
        assert c.post("/auth/introspect", data={"token": subject}).status_code == 401
        active = c.post("/auth/introspect", data={"token": subject}, headers=bearer(auditor))
        assert active.status_code == 200
        body: dict[str, Any] = active.json()
        assert body["active"] is True
        assert body["username"] == "subject-user"
        assert body["scope"] == "items:read items:write"
        inactive = c.post("/auth/introspect", data={"token": "junk"}, headers=bearer(auditor))
        assert inactive.json() == {"active": False}


def test_discovery_documents(live: LiveServer) -> None:
    with live.client() as c:
        jwks = c.get("/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert "max-age=300" in jwks.headers["cache-control"]
        keys = jwks.json()["keys"]
        assert keys
        private = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
        assert all(not private & key.keys() for key in keys)
        meta = c.get("/.well-known/oauth-authorization-server").json()
        assert meta["issuer"] == live.settings.issuer
        assert meta["token_endpoint"].endswith("/auth/token")
        assert meta["jwks_uri"].endswith("/.well-known/jwks.json")
        assert meta["grant_types_supported"] == [
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ]
        assert "password" not in str(meta["grant_types_supported"])
        assert meta["token_endpoint_auth_methods_supported"] == [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]


def test_registration_conflicts_and_validation(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "reg-user")
        taken = c.post("/users", json={"username": "reg-user", "password": PASSWORD})
        assert taken.status_code == 409
        assert taken.json()["error"] == "username_taken"
        weak = c.post("/users", json={"username": "weak-user", "password": "Password1!"})
        assert weak.status_code == 422
        assert weak.json()["error"] == "weak_password"
        long = c.post("/users", json={"username": "long-user", "password": "x" * 20_000})
        assert long.status_code == 422
        huge = c.post("/users", json={"username": "huge-user", "password": "x" * 1_000_000})
        assert huge.status_code == 413  # the 64 KiB body limit, before any parsing
        for bad in (
            {"username": "", "password": PASSWORD},
            {"username": "x" * 500, "password": PASSWORD},
            {"password": PASSWORD},
            {"username": "bad-email", "password": PASSWORD, "email": "not-an-email"},
            {"username": "extra", "password": PASSWORD, "admin": True},
        ):
            r = c.post("/users", json=bad)
            assert r.status_code == 422, bad
            assert r.json()["error"] == "invalid_request"
        assert (
            c.post("/users", content=b"{", headers={"content-type": "application/json"}).status_code
            == 422
        )


def test_password_change_ends_the_other_sessions(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "pw-user")
        keep = live.login(c, "pw-user")
        other = live.login(c, "pw-user")
        h = bearer(keep["access_token"])
        wrong = c.post(
            "/users/me/password",
            json={"current_password": "wrong-current", "new_password": NEW_PASSWORD},
            headers=h,
        )
        assert wrong.status_code == 400
        weak = c.post(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": "123456789012345"},
            headers=h,
        )
        assert weak.status_code == 422
        no_auth = c.post(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert no_auth.status_code == 401
        ok = c.post(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=h,
        )
        assert ok.status_code == 200
        assert c.get("/users/me", headers=bearer(other["access_token"])).status_code == 401
        assert c.get("/users/me", headers=h).status_code == 401
        assert c.get("/users/me", headers=bearer(ok.json()["access_token"])).status_code == 200
        live.login(c, "pw-user", NEW_PASSWORD)


def test_sessions_list_and_end(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "sess-user")
        mine = live.login(c, "sess-user")
        other = live.login(c, "sess-user")
        h = bearer(mine["access_token"])
        listed = c.get("/users/me/sessions", headers={**h, "User-Agent": "pytest-agent"})
        assert listed.status_code == 200
        sessions = listed.json()
        assert len(sessions) == 2
        assert sum(s["current"] for s in sessions) == 1
        assert {"id", "created_at", "last_used_at", "user_agent", "ip", "current"} <= sessions[
            0
        ].keys()
        other_id = next(s["id"] for s in sessions if not s["current"])
        assert c.delete(f"/users/me/sessions/{other_id}", headers=h).status_code == 204
        assert c.get("/users/me", headers=bearer(other["access_token"])).status_code == 401
        assert c.delete(f"/users/me/sessions/{other_id}", headers=h).status_code == 404
        assert c.delete("/users/me/sessions/nope", headers=h).status_code == 404
        assert c.get("/users/me/sessions").status_code == 401


def test_query_string_token_is_refused(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "query-user")
        token = live.login(c, "query-user")["access_token"]
        r = c.get("/users/me", params={"access_token": token})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == NO_TOKEN


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/me"),
        ("POST", "/users/me/password"),
        ("GET", "/users/me/sessions"),
        ("DELETE", "/users/me/sessions/x"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/introspect"),
    ],
)
def test_every_protected_route_sends_www_authenticate(
    live: LiveServer, method: str, path: str
) -> None:
    with live.client() as c:
        none = c.request(method, path)
        bad = c.request(method, path, headers=bearer("a.b.c"))
    assert (none.status_code, none.headers["www-authenticate"]) == (401, NO_TOKEN)
    assert (bad.status_code, bad.headers["www-authenticate"]) == (401, BAD_TOKEN)
    assert none.json()["error"] == "invalid_token"


def test_operations_endpoints(live: LiveServer) -> None:
    with live.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        live.register(c, "metrics-user")
        live.login(c, "metrics-user")
        text = c.get("/metrics").text
    assert 'authgate_security_events_total{event="login_ok"}' in text
    assert 'authgate_http_requests_total{method="POST",route="/auth/token",status="200"}' in text


def test_expired_access_token_is_401(live: LiveServer) -> None:
    with live.client() as c:
        live.register(c, "expiry-user")
        token = live.login(c, "expiry-user")["access_token"]
        assert c.get("/users/me", headers=bearer(token)).status_code == 200
        live.clock.advance(live.settings.access_token_ttl + live.settings.leeway + 1)
        r = c.get("/users/me", headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == BAD_TOKEN


def test_unknown_routes_and_methods_are_json_errors(live: LiveServer) -> None:
    with live.client() as c:
        assert c.get("/nope").json()["error"] == "not_found"
        assert c.get("/auth/token").status_code == 405


def test_server_is_reachable_over_real_http(live: LiveServer) -> None:
    r = httpx.get(live.url + "/healthz")
    assert r.http_version == "HTTP/1.1"
