"""NIST SP 800-63B-4 §3.1.1.2 over HTTP: 15 characters at least for a password that
is the account's only factor, 8 with a second factor."""

from __future__ import annotations

import pytest

from mfa.conftest import PASSWORD, MfaServer, bearer, enrolled_user, mfa_grant, mfa_token

pytestmark = pytest.mark.anyio

#: 14 and 15 characters, neither common nor guessable.
FOURTEEN = "qv7-hemlock-zq"
FIFTEEN = "qv7-hemlock-zqx"
#: 10 characters: enough with a second factor only.
TEN = "qv7-hemlox"


async def test_registration_needs_fifteen_characters(mfa_server: MfaServer) -> None:
    async with mfa_server.client() as client:
        r = await client.post("/users", json={"username": "short", "password": FOURTEEN})
        assert r.status_code == 422
        assert r.json()["error"] == "weak_password"
        assert "15" in r.json()["error_description"]
        r = await client.post("/users", json={"username": "long", "password": FIFTEEN})
        assert r.status_code == 201, r.text


async def test_a_password_change_needs_fifteen_without_and_eight_with_a_second_factor(
    mfa_server: MfaServer,
) -> None:
    server = mfa_server
    async with server.client() as client:
        await client.post("/users", json={"username": "solo", "password": PASSWORD})
        r = await client.post(
            "/auth/token",
            data={"grant_type": "password", "username": "solo", "password": PASSWORD},
        )
        access = r.json()["access_token"]
        r = await client.post(
            "/users/me/password",
            headers=bearer(access),
            json={"current_password": PASSWORD, "new_password": TEN},
        )
        assert r.status_code == 422
        assert r.json()["error"] == "weak_password"

        user = await enrolled_user(server, client, "duo")
        r = await mfa_grant(client, await mfa_token(client, "duo"), otp=server.code(user.secret))
        assert r.status_code == 200, r.text
        r = await client.post(
            "/users/me/password",
            headers=bearer(r.json()["access_token"]),
            json={"current_password": PASSWORD, "new_password": TEN},
        )
        assert r.status_code == 200, r.text
