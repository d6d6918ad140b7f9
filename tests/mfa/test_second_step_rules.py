"""The second step re-checks the first step's account rules on the row it opens the
session on (SECURITY.md A.7 #48): an account disabled, or whose address stopped being
verified under ``require_verified_email``, between the password and the code gets no
session, though the code is right. Over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from authgate.service import AuthService
from authgate.store.schema import users
from mfa.conftest import PASSWORD, MfaServer, bearer, enrol, mfa_grant, mfa_token, password_grant

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(start_mfa_server: object, database_url: str) -> MfaServer:
    started: MfaServer = start_mfa_server(  # type: ignore[operator]
        database_url, require_verified_email=True
    )
    return started


def _set_verified(server: MfaServer, user_id: str, verified: bool) -> None:
    """What ``authgate users import --update`` with ``email_verified`` does to the row
    (it moves no credential version)."""

    async def job(service: AuthService) -> None:
        async with service.db.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(email_verified=verified)
            )

    server.call(job)


async def _verified_mfa_user(
    server: MfaServer, client: httpx.AsyncClient, name: str
) -> tuple[str, str]:
    """(user id, TOTP secret) of an account with a verified address and TOTP."""
    body = {"username": name, "password": PASSWORD, "email": f"{name}@example.com"}
    r = await client.post("/users", json=body)
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    assert (await password_grant(client, name)).json()["error_description"].startswith("verify")
    _set_verified(server, user_id, True)
    user = await enrol(server, client, name, user_id)
    return user_id, user.secret


async def test_an_address_unverified_during_the_second_step_gets_no_session(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user_id, secret = await _verified_mfa_user(server, client, "vera")
        token = await mfa_token(client, "vera")
        _set_verified(server, user_id, False)
        r = await mfa_grant(client, token, otp=server.code(secret))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"
        assert "access_token" not in r.json()
        # A new login says why.
        r = await password_grant(client, "vera")
        assert r.status_code == 400
        assert r.json()["error_description"].startswith("verify")


async def test_an_account_disabled_during_the_second_step_gets_no_session(
    server: MfaServer,
) -> None:
    async with server.client() as client:
        user_id, secret = await _verified_mfa_user(server, client, "dora")
        token = await mfa_token(client, "dora")

        async def disable(service: AuthService) -> None:
            await service.disable_user(user_id)

        server.call(disable)
        r = await mfa_grant(client, token, otp=server.code(secret))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"


async def test_a_verified_account_completes_the_second_step(server: MfaServer) -> None:
    async with server.client() as client:
        _, secret = await _verified_mfa_user(server, client, "vince")
        token = await mfa_token(client, "vince")
        r = await mfa_grant(client, token, otp=server.code(secret))
        assert r.status_code == 200, r.text
        me = await client.get("/users/me", headers=bearer(r.json()["access_token"]))
        assert me.json()["email_verified"] is True
