"""The multi-step login over HTTP against a real server (SQLite and PostgreSQL):
a password alone never yields tokens once a second factor is confirmed; the
``mfa_token`` is single use, short-lived, bound to its user and to the password check
that produced it; TOTP codes work once, within one step of drift."""

from __future__ import annotations

import asyncio

import pytest

from authgate.tokens import decode_unverified
from mfa.conftest import (
    PASSWORD,
    MfaServer,
    bearer,
    enrolled_user,
    mfa_grant,
    mfa_token,
    password_grant,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(start_mfa_server: object, database_url: str) -> MfaServer:
    started: MfaServer = start_mfa_server(database_url)  # type: ignore[operator]
    return started


def claims(access_token: str) -> dict[str, object]:
    """The claims (the server's own token, read for inspection)."""
    return decode_unverified(access_token)[1]


async def test_password_grant_for_an_mfa_user_is_403_mfa_required_never_tokens(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        await enrolled_user(server, client, "alice")
        r = await password_grant(client, "alice")
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"] == "mfa_required"
        assert body["mfa_methods"] == ["otp", "recovery_code"]
        assert len(body["mfa_token"]) == 43  # 256 bits, base64url
        assert "access_token" not in body
        assert "refresh_token" not in body
        assert r.headers["Cache-Control"] == "no-store"
        # The wrong password is still the plain invalid_grant: no mfa_token.
        r = await password_grant(client, "alice", "not-the-password-at-all")
        assert r.status_code == 400
        assert "mfa_token" not in r.json()


async def test_totp_completes_the_login_with_amr_and_acr_kept_across_refresh(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 200, r.text
        pair = r.json()
        first = claims(pair["access_token"])
        assert first["amr"] == ["pwd", "otp", "mfa"]
        assert first["acr"] == "urn:authgate:acr:mfa"
        assert first["sub"] == user.user_id
        r = await client.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        )
        assert r.status_code == 200, r.text
        again = claims(r.json()["access_token"])
        assert again["amr"] == ["pwd", "otp", "mfa"]
        assert again["acr"] == "urn:authgate:acr:mfa"
        assert (await client.get("/users/me", headers=bearer(r.json()["access_token"]))).is_success


async def test_a_user_without_a_second_factor_gets_tokens_with_amr_pwd(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        r = await client.post("/users", json={"username": "bob", "password": PASSWORD})
        assert r.status_code == 201
        r = await password_grant(client, "bob")
        assert r.status_code == 200, r.text
        found = claims(r.json()["access_token"])
        assert found["amr"] == ["pwd"]
        assert found["acr"] == "urn:authgate:acr:pwd"


async def test_a_wrong_code_is_invalid_grant_and_the_mfa_token_stays_usable(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        right = server.code(user.secret)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        for bad in (wrong, "12345", "abcdef", "1234567"):
            r = await mfa_grant(client, token, otp=bad)
            assert r.status_code == 400, r.text
            assert r.json()["error"] == "invalid_grant"
        r = await mfa_grant(client, token, otp=right)
        assert r.status_code == 200, r.text


async def test_a_code_is_accepted_once_even_with_another_mfa_token(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        code = server.code(user.secret)
        r = await mfa_grant(client, await mfa_token(client, "alice"), otp=code)
        assert r.status_code == 200, r.text
        r = await mfa_grant(client, await mfa_token(client, "alice"), otp=code)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        # An earlier step's code (inside the drift window) is refused too: steps only
        # move forward.
        r = await mfa_grant(
            client, await mfa_token(client, "alice"), otp=server.code(user.secret, -1)
        )
        assert r.status_code == 400
        server.next_step()
        r = await mfa_grant(client, await mfa_token(client, "alice"), otp=server.code(user.secret))
        assert r.status_code == 200, r.text


async def test_the_same_right_code_sent_in_parallel_succeeds_once(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        code = server.code(user.secret)
        tokens = [await mfa_token(client, "alice") for _ in range(2)]
        # Each mfa_token twice, all with the one code: one winner in all.
        answers = await asyncio.gather(
            *(mfa_grant(client, t, otp=code) for t in tokens for _ in range(2))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses.count(200) == 1, [r.text for r in answers]
        assert all(s in (400, 429) for s in statuses if s != 200)


async def test_codes_outside_one_step_of_drift_are_refused(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        for steps in (-2, 2):
            r = await mfa_grant(client, token, otp=server.code(user.secret, steps))
            assert r.status_code == 400, r.text
        r = await mfa_grant(client, token, otp=server.code(user.secret, 1))
        assert r.status_code == 200, r.text


async def test_an_expired_mfa_token_is_invalid_grant(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        server.clock.advance(301)
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


async def test_a_used_mfa_token_is_invalid_grant(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        assert (await mfa_grant(client, token, otp=server.code(user.secret))).status_code == 200
        server.next_step()
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        r = await mfa_grant(client, "x" * 43, otp=server.code(user.secret))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


async def test_an_mfa_token_is_bound_to_its_user(server: MfaServer) -> None:
    async with server.client() as client:
        alice = await enrolled_user(server, client, "alice")
        bob = await enrolled_user(server, client, "bob")
        token = await mfa_token(client, "alice")
        # Bob's valid code does not finish Alice's login, and no session is Bob's.
        r = await mfa_grant(client, token, otp=server.code(bob.secret))
        assert r.status_code == 400, r.text
        r = await mfa_grant(client, token, otp=server.code(alice.secret))
        assert r.status_code == 200
        assert claims(r.json()["access_token"])["sub"] == alice.user_id


async def test_a_password_change_kills_an_outstanding_mfa_token(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        # Alice (already signed in elsewhere) changes her password meanwhile.
        other = await mfa_token(client, "alice")
        r = await mfa_grant(client, other, otp=server.code(user.secret))
        assert r.status_code == 200
        r = await client.post(
            "/users/me/password",
            headers=bearer(r.json()["access_token"]),
            json={"current_password": PASSWORD, "new_password": "copper-meadow-violin-42"},
        )
        assert r.status_code == 200, r.text
        # The caller's reopened session keeps how it was signed in.
        assert claims(r.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
        server.next_step()
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


async def test_the_mfa_grant_needs_exactly_one_proof(server: MfaServer) -> None:
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        r = await mfa_grant(client, token)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        r = await mfa_grant(
            client, token, otp=server.code(user.secret), recovery_code=user.recovery_codes[0]
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        r = await client.post(
            "/auth/token", data={"grant_type": "urn:authgate:params:oauth:grant-type:mfa"}
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
