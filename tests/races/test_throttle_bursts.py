"""SECURITY.md A.7 #47 and #54 over HTTP: bursts of concurrent password attempts
against a real server, with the throttle in memory and in Redis. The hasher counts
the verifications that really ran; the frozen clock keeps every back-off running
until the test moves it, so no assertion depends on timing."""

from __future__ import annotations

import asyncio
import time

import bcrypt
import httpx
import pytest
from sqlalchemy import update

from authgate.clock import FrozenClock
from authgate.service import AuthService
from authgate.settings import ThrottleSettings
from authgate.store.schema import users
from races.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    WRONG_PASSWORD,
    RaceServer,
    ServerFactory,
    bearer,
    login,
    register,
)

LIMIT = ThrottleSettings(max_failures=5, registrations_per_ip_per_hour=1000)


@pytest.fixture(params=["memory", "redis"])
def throttled_server(
    request: pytest.FixtureRequest, start_server: ServerFactory, redis_namespace: str
) -> RaceServer:
    """A server whose throttle counts in memory, or in the shared Redis."""
    extra: dict[str, str] = {}
    if request.param == "redis":
        extra = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_namespace": redis_namespace,
        }
    return start_server(clock=FrozenClock(time.time()), throttle=LIMIT, **extra)


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.anyio
async def test_sixty_concurrent_wrong_logins_reach_the_hash_at_most_five_times(
    throttled_server: RaceServer,
) -> None:
    server = throttled_server
    async with server.client() as client:
        await register(client, "burst-login")
        before = server.hasher.verifies
        answers = await asyncio.gather(
            *(login(client, "burst-login", WRONG_PASSWORD) for _ in range(60))
        )
        checked = server.hasher.verifies - before
        assert 1 <= checked <= LIMIT.max_failures
        refused = [r for r in answers if r.status_code != 400]
        assert len(refused) == 60 - checked
        for response in refused:
            assert_throttled(response)
        assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code == 400)
        # The right password right after the burst: still refused, and not even checked.
        assert_throttled(await login(client, "burst-login", PASSWORD))
        assert server.hasher.verifies - before == checked


@pytest.mark.anyio
async def test_sixty_concurrent_password_changes_with_a_stolen_token_hash_at_most_five(
    throttled_server: RaceServer,
) -> None:
    server = throttled_server
    async with server.client() as client:
        await register(client, "burst-change")
        stolen = (await login(client, "burst-change")).json()["access_token"]
        before = server.hasher.verifies

        async def change(current: str) -> httpx.Response:
            body = {"current_password": current, "new_password": NEW_PASSWORD}
            return await client.post("/users/me/password", json=body, headers=bearer(stolen))

        answers = await asyncio.gather(*(change(WRONG_PASSWORD) for _ in range(60)))
        checked = server.hasher.verifies - before
        assert 1 <= checked <= LIMIT.max_failures
        assert sum(r.status_code == 400 for r in answers) == checked
        for response in answers:
            if response.status_code != 400:
                assert_throttled(response)
        # The right current password right after: still refused, the password unchanged.
        assert_throttled(await change(PASSWORD))
        assert server.hasher.verifies - before == checked
        # One throttle for both doors: the login is blocked too.
        assert_throttled(await login(client, "burst-change", PASSWORD))


@pytest.mark.anyio
async def test_concurrent_wrong_logins_from_one_ip_stop_at_its_limit_across_accounts(
    start_server: ServerFactory,
) -> None:
    settings = ThrottleSettings(
        max_failures=50, per_ip_max_failures=10, registrations_per_ip_per_hour=1000
    )
    server = start_server(clock=FrozenClock(time.time()), throttle=settings)
    async with server.client() as client:
        await register(client, "spray-victim")
        before = server.hasher.verifies
        answers = await asyncio.gather(
            *(login(client, f"spray-{n}", WRONG_PASSWORD) for n in range(60))
        )
        checked = server.hasher.verifies - before
        assert 1 <= checked <= settings.per_ip_max_failures
        assert sum(r.status_code == 400 for r in answers) == checked
        for response in answers:
            if response.status_code != 400:
                assert_throttled(response)
        # Another account, the right password, the same address: refused unchecked.
        assert_throttled(await login(client, "spray-victim", PASSWORD))
        assert server.hasher.verifies - before == checked


@pytest.mark.anyio
async def test_one_verification_per_account_in_flight_and_other_accounts_never_wait(
    start_server: ServerFactory,
) -> None:
    """The account lease, not a global lock: while one login of an account is held
    inside its hash, a second one for the same account is refused (after its brief
    wait), and another account's login goes through."""
    server = start_server(throttle=LIMIT)
    hold = "copper-" + PASSWORD
    async with server.client() as client:
        await register(client, "lessee", hold)
        await register(client, "free")
        server.hasher.hold_next(hold)
        first = asyncio.create_task(login(client, "lessee", hold))
        try:
            assert await asyncio.to_thread(server.hasher.held.wait, 30)
            before = server.hasher.verifies
            assert_throttled(await login(client, "LESSEE", hold))
            assert server.hasher.verifies == before  # refused before any hashing
            other = await login(client, "free")
            assert other.status_code == 200, other.text
        finally:
            server.hasher.release.set()
        assert (await first).status_code == 200
        # The lease is back: the account logs in again.
        assert (await login(client, "lessee", hold)).status_code == 200


@pytest.mark.anyio
async def test_a_scope_the_user_lacks_is_judged_after_the_password_and_counts_as_a_failure(
    throttled_server: RaceServer,
) -> None:
    server = throttled_server
    async with server.client() as client:
        await register(client, "scoped")
        right = [login(client, "scoped", PASSWORD, scope="admin") for _ in range(3)]
        wrong = [login(client, "scoped", WRONG_PASSWORD, scope="admin") for _ in range(2)]
        answers = [await attempt for attempt in [*right, *wrong]]
        assert [r.json()["error"] for r in answers] == ["invalid_scope"] * 3 + ["invalid_grant"] * 2
        # Five attempts, right password or not, and the account is blocked.
        assert_throttled(await login(client, "scoped", PASSWORD))


@pytest.mark.anyio
async def test_an_over_long_password_on_a_legacy_bcrypt_account_costs_one_bcrypt_verification(
    start_server: ServerFactory,
) -> None:
    server = start_server(throttle=LIMIT)
    async with server.client() as client:
        user_id = await register(client, "legacy")
        legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

        async def set_hash(service: AuthService) -> None:
            async with service.db.engine.begin() as conn:
                await conn.execute(
                    update(users).where(users.c.id == user_id).values(password_hash=legacy)
                )

        server.call(set_hash)
        # 72 bytes of the right password and more: never a match (never truncated) ...
        long = PASSWORD * 4
        assert len(long.encode()) > 72
        before = (server.hasher.verifies, server.hasher.bcrypt_verifies)
        response = await login(client, "legacy", long)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        # ... but as costly as any other answer for this account: one bcrypt run.
        assert (server.hasher.verifies, server.hasher.bcrypt_verifies) == (
            before[0] + 1,
            before[1] + 1,
        )
        assert (await login(client, "legacy", PASSWORD)).status_code == 200
