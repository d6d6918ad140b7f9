"""TOTP enrolment and removal, recovery codes, the second-factor throttle, and the
RFC 9470 step-up challenge, over HTTP against a real server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from authgate.service import AuthService
from authgate.store.protocols import Transaction
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


async def signed_in(
    server: MfaServer, client: httpx.AsyncClient, username: str, secret: str
) -> str:
    """An access token with amr pwd otp mfa for an enrolled user."""
    token = await mfa_token(client, username)
    r = await mfa_grant(client, token, otp=server.code(secret))
    assert r.status_code == 200, r.text
    server.next_step()
    access: str = r.json()["access_token"]
    return access


def assert_sealed(data: Path, secret: str) -> None:
    files = list(data.glob("data-*/authgate.db*"))
    assert files
    for file in files:
        assert secret.encode() not in file.read_bytes()
    db = next(f for f in files if f.name == "authgate.db")
    with sqlite3.connect(db) as conn:
        (sealed,) = conn.execute("SELECT secret_sealed FROM mfa_factors").fetchone()
    assert secret.encode() not in sealed
    assert len(sealed) > len(secret)


async def test_enrolment_returns_secret_uri_and_qr_and_seals_the_secret(
    mfa_server: MfaServer, tmp_path: Path
) -> None:
    async with mfa_server.client() as client:
        await client.post("/users", json={"username": "alice", "password": PASSWORD})
        access = (await password_grant(client, "alice")).json()["access_token"]
        r = await client.post("/users/me/mfa/totp", headers=bearer(access))
        assert r.status_code == 201, r.text
        assert r.headers["Cache-Control"] == "no-store"
        body = r.json()
        assert body["otpauth_uri"].startswith("otpauth://totp/authgate:alice?secret=")
        assert body["secret"] in body["otpauth_uri"]
        assert body["qr_svg"].startswith("<svg")
        assert "<script" not in body["qr_svg"]
        # Not in the clear anywhere in the database files.
        assert_sealed(tmp_path, body["secret"])
        # Unconfirmed: the password alone still signs in.
        assert (await password_grant(client, "alice")).status_code == 200


async def test_confirmation_needs_a_right_code(mfa_server: MfaServer) -> None:
    server = mfa_server
    async with server.client() as client:
        await client.post("/users", json={"username": "alice", "password": PASSWORD})
        access = (await password_grant(client, "alice")).json()["access_token"]
        secret = (await client.post("/users/me/mfa/totp", headers=bearer(access))).json()["secret"]
        right = server.code(secret)
        wrong = f"{(int(right) + 7) % 1_000_000:06d}"
        r = await client.post(
            "/users/me/mfa/totp/confirm", headers=bearer(access), json={"code": wrong}
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_code"
        assert (await password_grant(client, "alice")).status_code == 200
        r = await client.post(
            "/users/me/mfa/totp/confirm", headers=bearer(access), json={"code": right}
        )
        assert r.status_code == 200, r.text
        codes = r.json()["recovery_codes"]
        assert len(codes) == 10
        assert len(set(codes)) == 10
        # Once confirmed, a new enrolment is refused and the password alone is not enough.
        r = await client.post("/users/me/mfa/totp", headers=bearer(access))
        assert r.status_code == 422
        assert (await password_grant(client, "alice")).status_code == 403
        status = (await client.get("/users/me/mfa", headers=bearer(access))).json()
        assert status == {"totp": True, "pending": False, "recovery_codes_left": 10}


async def test_removal_needs_the_current_password(mfa_server: MfaServer) -> None:
    server = mfa_server
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        access = await signed_in(server, client, "alice", user.secret)
        r = await client.post(
            "/users/me/mfa/totp/remove", headers=bearer(access), json={"password": "nope-nope"}
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_credentials"
        assert (await password_grant(client, "alice")).status_code == 403
        r = await client.post(
            "/users/me/mfa/totp/remove", headers=bearer(access), json={"password": PASSWORD}
        )
        assert r.status_code == 204, r.text
        assert (await password_grant(client, "alice")).status_code == 200
        r = await mfa_grant(client, "y" * 43, recovery_code=user.recovery_codes[0])
        assert r.status_code == 400


async def test_a_recovery_code_works_once_and_is_audited(mfa_server: MfaServer) -> None:
    server = mfa_server
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        code = user.recovery_codes[3]
        r = await mfa_grant(client, await mfa_token(client, "alice"), recovery_code=code.upper())
        assert r.status_code == 200, r.text
        assert decode_unverified(r.json()["access_token"])[1]["acr"] == "urn:authgate:acr:mfa"
        r = await mfa_grant(client, await mfa_token(client, "alice"), recovery_code=code)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"

        async def events(service: AuthService) -> list[str]:
            async with service.db.read() as tx:
                rows = await tx.audit.events(user=user.user_id, event="recovery_code_used")
            return [row.event for row in rows]

        assert server.call(events) == ["recovery_code_used"]


async def test_one_recovery_code_sent_in_parallel_succeeds_once(mfa_server: MfaServer) -> None:
    server = mfa_server
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        tokens = [await mfa_token(client, "alice") for _ in range(4)]
        answers = await asyncio.gather(
            *(mfa_grant(client, t, recovery_code=user.recovery_codes[0]) for t in tokens)
        )
        assert [r.status_code for r in answers].count(200) == 1, [r.text for r in answers]


async def test_new_recovery_codes_need_the_password_and_replace_the_old(
    mfa_server: MfaServer,
) -> None:
    server = mfa_server
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        access = await signed_in(server, client, "alice", user.secret)
        r = await client.post(
            "/users/me/mfa/recovery-codes", headers=bearer(access), json={"password": "wrong!!"}
        )
        assert r.status_code == 400
        r = await client.post(
            "/users/me/mfa/recovery-codes", headers=bearer(access), json={"password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        fresh = r.json()["recovery_codes"]
        r = await mfa_grant(
            client, await mfa_token(client, "alice"), recovery_code=user.recovery_codes[1]
        )
        assert r.status_code == 400
        r = await mfa_grant(client, await mfa_token(client, "alice"), recovery_code=fresh[0])
        assert r.status_code == 200, r.text


@pytest.fixture
def throttled(start_mfa_server: object, throttle_store: dict[str, str]) -> MfaServer:
    server: MfaServer = start_mfa_server(**throttle_store)  # type: ignore[operator]
    return server


async def test_sixty_parallel_wrong_codes_are_checked_at_most_five_times(
    throttled: MfaServer,
) -> None:
    server = throttled
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        token = await mfa_token(client, "alice")
        right = server.code(user.secret)
        wrong = [f"{(int(right) + 1 + i) % 1_000_000:06d}" for i in range(60)]
        answers = await asyncio.gather(*(mfa_grant(client, token, otp=w) for w in wrong))
        checked = [r for r in answers if r.status_code == 400]
        refused = [r for r in answers if r.status_code == 429]
        assert 1 <= len(checked) <= 5
        assert len(checked) + len(refused) == 60
        assert all(r.json()["error"] == "invalid_grant" for r in checked)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)

        async def failures(service: AuthService) -> int:
            async with service.db.read() as tx:
                rows = await tx.audit.events(user=user.user_id, event="mfa_failed")
            return len(rows)

        assert server.call(failures) == len(checked)
        # Requests the burst's lease turned away were never checked; one at a time,
        # wrong codes reach the check until the fifth failure, then never again.
        for attempt in range(5):
            r = await mfa_grant(client, token, otp=wrong[attempt])
            if r.status_code == 429:
                break
            assert r.status_code == 400, r.text
        assert r.status_code == 429
        assert server.call(failures) == 5
        # The right code while throttled: refused, not checked.
        r = await mfa_grant(client, token, otp=right)
        assert r.status_code == 429
        assert server.call(failures) == 5
        # Once the back-off ended (the frozen clock moves on), the right code works.
        server.clock.advance(900)
        token = await mfa_token(client, "alice")
        r = await mfa_grant(client, token, otp=server.code(user.secret))
        assert r.status_code == 200, r.text


async def test_require_acr_and_amr_challenge_a_password_only_token(
    mfa_server: MfaServer,
) -> None:
    server = mfa_server
    async with server.client() as client:
        await client.post("/users", json={"username": "bob", "password": PASSWORD})
        weak = (await password_grant(client, "bob")).json()["access_token"]
        for path in ("/step-up/acr", "/step-up/amr"):
            r = await client.get(path, headers=bearer(weak))
            assert r.status_code == 401, r.text
            assert r.json()["error"] == "insufficient_user_authentication"
            challenge = r.headers["WWW-Authenticate"]
            assert challenge.startswith('Bearer realm="authgate", ')
            assert 'error="insufficient_user_authentication"' in challenge
            assert 'acr_values="urn:authgate:acr:mfa"' in challenge
            assert 'error_description="' in challenge
        user = await enrolled_user(server, client, "alice")
        strong = await signed_in(server, client, "alice", user.secret)
        for path in ("/step-up/acr", "/step-up/amr"):
            r = await client.get(path, headers=bearer(strong))
            assert r.status_code == 200, r.text
        # No token at all is the plain RFC 6750 401, not a step-up.
        r = await client.get("/step-up/acr")
        assert r.status_code == 401
        assert "insufficient_user_authentication" not in r.headers["WWW-Authenticate"]


async def test_the_recovery_notice_hook_runs_once_per_used_code_in_its_transaction(
    mfa_server: MfaServer,
) -> None:
    """The hook the email outbox takes: awaited inside the transaction that used the
    code (a refused code calls nothing)."""
    server = mfa_server
    seen: list[tuple[str, int, int]] = []

    async def notice(tx: Transaction, user_id: str, left: int) -> None:
        # Inside the completing transaction: the code already reads as used there.
        seen.append((user_id, left, await tx.factors.recovery_codes_left(user_id)))

    server.service.ops.mfa_logins.recovery_notice = notice
    async with server.client() as client:
        user = await enrolled_user(server, client, "alice")
        code = user.recovery_codes[0]
        assert (
            await mfa_grant(client, await mfa_token(client, "alice"), recovery_code=code)
        ).is_success
        assert seen == [(user.user_id, 9, 9)]
        r = await mfa_grant(client, await mfa_token(client, "alice"), recovery_code=code)
        assert r.status_code == 400
        r = await mfa_grant(client, await mfa_token(client, "alice"), otp=server.code(user.secret))
        assert r.status_code == 200
        assert seen == [(user.user_id, 9, 9)]
