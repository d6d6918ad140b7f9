"""``authgate users set-scopes`` that removes a scope takes effect at once (SECURITY.md
A.4 #33, A.7 #48): over HTTP against a real server, the real CLI in a process of its
own, on SQLite and PostgreSQL. The account's sessions end (refresh →
``invalid_grant``) and its access tokens are refused (``/users/me`` → 401), the next
sign-in gets the narrower set; adding a scope ends nothing; refreshes racing the
change in bursts keep no token that carries the removed scope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from authgate.service import AuthService
from authgate.store.schema import audit_events
from imports.conftest import authgate, server_env
from races.conftest import (
    PASSWORD,
    RaceServer,
    ServerFactory,
    assert_all_dead,
    bearer,
    heard_of,
    login,
    refresh,
    refreshes_racing,
)


def create(env: dict[str, str], username: str, *scopes: str) -> None:
    flags = [part for scope in scopes for part in ("--scope", scope)]
    made = authgate(
        env, "users", "create", username, "--password-stdin", *flags, stdin=PASSWORD.encode()
    )
    assert made.returncode == 0, made.stderr


def scope_changes(server: RaceServer) -> list[dict[str, Any]]:
    """The details of the ``user_scopes_changed`` audit events, oldest first."""

    async def job(service: AuthService) -> list[dict[str, Any]]:
        async with service.db.engine.connect() as conn:
            rows = await conn.execute(
                select(audit_events.c.detail)
                .where(audit_events.c.event == "user_scopes_changed")
                .order_by(audit_events.c.id)
            )
            return [r.detail if isinstance(r.detail, dict) else json.loads(r.detail) for r in rows]

    return server.call(job)


@pytest.mark.anyio
async def test_removing_a_scope_ends_sessions_and_tokens_and_adding_one_ends_nothing(
    start_server: ServerFactory, database_url: str
) -> None:
    server = start_server(database_url=database_url)
    env = server_env(server)
    create(env, "narrowed", "read", "write")
    create(env, "widened", "read", "write")
    async with server.client() as client:
        narrowed = (await login(client, "narrowed", scope="read write")).json()
        widened = (await login(client, "widened", scope="read write")).json()
        assert narrowed["scope"].split() == widened["scope"].split() == ["read", "write"]

        more = authgate(env, "users", "set-scopes", "widened", "read", "write", "admin")
        assert (more.returncode, more.stdout) == (0, "widened: admin read write\n"), more.stderr
        less = authgate(env, "users", "set-scopes", "narrowed", "read")
        assert less.returncode == 0, less.stderr
        assert less.stdout.splitlines() == [
            "narrowed: read",
            "removed write: narrowed's sessions and tokens were ended",
        ]

        await heard_of(client, narrowed)
        await assert_all_dead(client, [narrowed])
        again = await login(client, "narrowed", scope="read write")
        assert again.status_code == 200, again.text
        assert again.json()["scope"].split() == ["read"]
        me = await client.get("/users/me", headers=bearer(again.json()["access_token"]))
        assert me.status_code == 200, me.text

        # The widened account's pair outlives the narrowing's cut-off reaching the
        # server (heard above, after both commands): it was never cut off.
        me = await client.get("/users/me", headers=bearer(widened["access_token"]))
        assert me.status_code == 200, me.text
        kept = await refresh(client, widened["refresh_token"])
        assert kept.status_code == 200, kept.text
        assert kept.json()["scope"].split() == ["read", "write"]  # what the session was granted

    assert scope_changes(server) == [
        {"added": ["admin"], "removed": [], "cut_off": False},
        {"added": [], "removed": ["write"], "cut_off": True},
    ]


@pytest.mark.anyio
async def test_refreshes_racing_a_narrowing_keep_no_token_with_the_removed_scope(
    start_server: ServerFactory, database_url: str
) -> None:
    """20 sessions rotate their refresh tokens in bursts (``asyncio.gather``) while
    ``users set-scopes`` removes a scope in another process: once it has returned, no
    token issued before or during it works, and every later one lacks the scope."""
    server = start_server(database_url=database_url)
    env = server_env(server)
    create(env, "racer", "read", "write")
    async with server.client() as client:
        canary = (await login(client, "racer", scope="read write")).json()
        chains = [(await login(client, "racer", scope="read write")).json() for _ in range(20)]
        narrowed, issued = await refreshes_racing(
            client, chains, lambda: authgate(env, "users", "set-scopes", "racer", "read")
        )
        assert narrowed.returncode == 0, narrowed.stderr
        assert len(issued) > len(chains)  # refreshes did succeed during the race

        await heard_of(client, canary)
        for pair in [canary, *issued]:
            assert "write" in pair["scope"].split()  # every one of them had the old scope
        await assert_all_dead(client, [canary, *issued])
        fresh = (await login(client, "racer", scope="read write")).json()
        assert fresh["scope"].split() == ["read"]
        again = await refresh(client, fresh["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.json()["scope"].split() == ["read"]
