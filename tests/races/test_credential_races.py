"""SECURITY.md A.7 #48 over HTTP: logins with the old credentials racing a password
change, a logout-all, or ``authgate users disable`` in another process. Once the
change has returned, not one token of the racing logins works, on SQLite and on
PostgreSQL. Three login loops run until the change returns; every token pair they
got is then tried: access token → 401, refresh token → 400."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from authgate.settings import ThrottleSettings
from races.conftest import (
    AUTHGATE,
    NEW_PASSWORD,
    PASSWORD,
    RaceServer,
    ServerFactory,
    assert_all_dead,
    bearer,
    heard_of,
    login,
    register,
)

LOOPS = 3
# The loops' own failures after the change (the old password) must not block the
# account for the check at the end; the race itself is what is being tested.
THROTTLE = ThrottleSettings(max_failures=1000, per_ip_max_failures=100_000)


async def race(
    client: httpx.AsyncClient, username: str, change: Callable[[], Awaitable[None]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run LOOPS login loops with the old password until ``change()`` has returned
    (started once a loop has logged in, so they overlap). Returns the token pairs
    the loops got: all of them, and those answered before ``change()`` was sent."""
    issued: list[dict[str, Any]] = []
    before: list[dict[str, Any]] = []
    first = asyncio.Event()
    sent = done = False

    async def loop() -> None:
        while not done:
            response = await login(client, username)
            if response.status_code == 200:
                issued.append(response.json())
                if not sent:
                    before.append(response.json())
                first.set()
            else:  # the old password stopped working, or the account was busy
                assert response.status_code in (400, 429), response.text

    async def run_change() -> None:
        nonlocal done, sent
        try:
            await first.wait()
            sent = True
            await change()
        finally:
            done = True

    await asyncio.gather(run_change(), *(loop() for _ in range(LOOPS)))
    assert before
    return issued, before


async def held_login(
    server: RaceServer,
    client: httpx.AsyncClient,
    username: str,
    cut: Callable[[], Awaitable[None]],
) -> httpx.Response:
    """A login caught inside its hash (the user row already read) while ``cut()``
    runs to completion; its answer once let go."""
    server.hasher.hold_next(PASSWORD)
    task = asyncio.create_task(login(client, username))
    try:
        assert await asyncio.to_thread(server.hasher.held.wait, 30)
        await cut()
    finally:
        server.hasher.release.set()
    return await task


async def until_done(
    send: Callable[[], Awaitable[httpx.Response]], expected: int
) -> httpx.Response:
    """Send until the answer is not 429 (the account may be busy with a loop's
    login: one verification per account in flight, A.7 #47)."""
    for _ in range(200):
        response = await send()
        if response.status_code != 429:
            assert response.status_code == expected, response.text
            return response
    raise AssertionError("still throttled after 200 tries")


@pytest.mark.anyio
async def test_logins_racing_a_password_change_keep_no_working_token(
    start_server: ServerFactory, database_url: str
) -> None:
    server = start_server(database_url=database_url, throttle=THROTTLE)
    async with server.client() as client:
        await register(client, "racer")
        own = (await login(client, "racer")).json()
        handed: list[dict[str, Any]] = []

        async def change() -> None:
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            headers = bearer(own["access_token"])
            done = await until_done(
                lambda: client.post("/users/me/password", json=body, headers=headers), 200
            )
            handed.append(done.json())

        issued, _ = await race(client, "racer", change)
        # Every pair from before the change is dead, the caller's own included; the
        # pair the change handed the caller is the one that works.
        await assert_all_dead(client, [own, *issued])
        (new_pair,) = handed
        me = await client.get("/users/me", headers=bearer(new_pair["access_token"]))
        assert me.status_code == 200
        # Not everything is dead: the new password logs in, and its token works.
        fresh = (await login(client, "racer", NEW_PASSWORD)).json()
        me = await client.get("/users/me", headers=bearer(fresh["access_token"]))
        assert me.status_code == 200


@pytest.mark.anyio
async def test_a_login_in_its_hash_while_another_instance_changes_the_password_fails(
    start_server: ServerFactory, database_url: str
) -> None:
    """Two instances on one database, each throttling in its own memory (no Redis):
    the account lease cannot keep them apart, the credential version does."""
    first = start_server(database_url=database_url, throttle=THROTTLE)
    second = start_server(database_url=database_url, throttle=THROTTLE)
    async with first.client() as client, second.client() as other:
        await register(client, "twin")
        own = (await login(other, "twin")).json()

        async def change_elsewhere() -> None:
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            headers = bearer(own["access_token"])
            changed = await other.post("/users/me/password", json=body, headers=headers)
            assert changed.status_code == 200, changed.text

        answer = await held_login(first, client, "twin", change_elsewhere)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_grant"
        assert (await login(client, "twin", NEW_PASSWORD)).status_code == 200


@pytest.mark.anyio
async def test_logins_racing_logout_all_keep_no_working_token(
    start_server: ServerFactory, database_url: str
) -> None:
    """The password still works after a logout-all, so a login that starts after it
    is a new, valid one; those that raced it are: every login answered before it
    was sent, and one caught in its hash while it ran."""
    server = start_server(database_url=database_url, throttle=THROTTLE)
    async with server.client() as client:
        await register(client, "leaver")
        own = (await login(client, "leaver")).json()

        async def logout_all(token: str) -> None:
            await until_done(lambda: client.post("/auth/logout-all", headers=bearer(token)), 204)

        _, before = await race(client, "leaver", lambda: logout_all(own["access_token"]))
        await assert_all_dead(client, [own, *before])

        again = (await login(client, "leaver")).json()
        held = await held_login(server, client, "leaver", lambda: logout_all(again["access_token"]))
        assert held.status_code == 400, held.text
        await assert_all_dead(client, [again])
        fresh = (await login(client, "leaver")).json()
        me = await client.get("/users/me", headers=bearer(fresh["access_token"]))
        assert me.status_code == 200


async def disable_in_another_process(server: RaceServer, username: str) -> None:
    await asyncio.to_thread(
        subprocess.run,
        [str(AUTHGATE), "users", "disable", username],
        env=server.cli_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.anyio
async def test_logins_racing_users_disable_in_another_process_keep_no_working_token(
    start_server: ServerFactory, database_url: str
) -> None:
    server = start_server(database_url=database_url, throttle=THROTTLE)
    async with server.client() as client:
        await register(client, "outcast")
        canary = (await login(client, "outcast")).json()
        issued, _ = await race(
            client, "outcast", lambda: disable_in_another_process(server, "outcast")
        )
        await heard_of(client, canary)
        await assert_all_dead(client, [canary, *issued])
        assert (await login(client, "outcast")).status_code == 400


@pytest.mark.anyio
async def test_a_login_in_its_hash_while_users_disable_runs_in_another_process_fails(
    start_server: ServerFactory, database_url: str
) -> None:
    server = start_server(database_url=database_url, throttle=THROTTLE)
    async with server.client() as client:
        await register(client, "exile")
        answer = await held_login(
            server, client, "exile", lambda: disable_in_another_process(server, "exile")
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_grant"
