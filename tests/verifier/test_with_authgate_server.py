"""End to end: a real ``authgate`` server (create_app, SQLite in a tmp dir, uvicorn
on loopback) issues tokens; the JWKS verifier in "another service" checks them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.clock import FrozenClock, SystemClock
from authgate.errors import Revoked, UnknownKey
from authgate.server import create_app
from authgate.testing import test_settings
from authgate.verifier import BearerCredentials, JWKSVerifier

from ._example import load_example
from ._uvicorn import bound_socket, serving

pytestmark = pytest.mark.anyio

AUDIENCE = "authgate"
INTROSPECT_SCOPE = "authgate:introspect"
#: Fixed, not random: a random one can contain the username, which the policy refuses.
PASSWORD = "amber-lantern-orbit-73"


@dataclass
class Running:
    url: str
    app: Any
    http: httpx.AsyncClient

    @property
    def service(self) -> Any:
        return self.app.state.authgate.service

    async def user_token(self, username: str, scope: str | None = None) -> str:
        password = PASSWORD
        created = await self.http.post("/users", json={"username": username, "password": password})
        assert created.status_code == 201, created.text
        if scope:
            await self.service.set_scopes(created.json()["id"], scope.split())
        form = {"grant_type": "password", "username": username, "password": password}
        if scope:
            form["scope"] = scope
        answer = await self.http.post("/auth/token", data=form)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


@pytest.fixture
async def authgate_server(tmp_path: Path) -> AsyncIterator[Running]:
    """A real authgate server: create_app, SQLite in tmp_path, uvicorn on loopback."""
    sock = bound_socket()  # the issuer URL must be known before the app is built
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = test_settings(tmp_path, issuer=url, audience=AUDIENCE)
    app = create_app(settings, clock=SystemClock())
    async with (
        serving(app, sock) as served,
        httpx.AsyncClient(base_url=served, trust_env=False) as http,
    ):
        yield Running(served, app, http)


def clock_now() -> FrozenClock:
    return FrozenClock(SystemClock().now())


async def test_tokens_from_the_token_endpoint_verify_here(authgate_server: Running) -> None:
    token = await authgate_server.user_token("alice")
    async with JWKSVerifier.from_issuer(authgate_server.url, audience=AUDIENCE) as verifier:
        verified = await verifier.verify_access_token(token)
        assert verified.kid in verifier.status().kids
        assert verifier.status().jwks_url == authgate_server.url + "/.well-known/jwks.json"
    me = await authgate_server.http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert verified.sub == me.json()["id"]


async def test_rotate_keys_on_the_server_is_picked_up(authgate_server: Running) -> None:
    service = authgate_server.service
    old = await authgate_server.user_token("bob")
    clock = clock_now()
    async with JWKSVerifier.from_issuer(
        authgate_server.url, audience=AUDIENCE, clock=clock
    ) as verifier:
        await verifier.verify_access_token(old)
        # The server publishes a rotated key before it signs (SECURITY.md A.7 #49):
        # after a scheduled refresh the verifier knows it, and needs no fetch when
        # it is promoted.
        kid = await service.rotate_keys()
        assert (
            await verifier.verify_access_token(await authgate_server.user_token("carol"))
        ).kid != kid
        await verifier.refresh(force=True)
        fetches = verifier.status().fetches
        assert kid in verifier.status().kids
        assert await service.rotate_keys(now=True) == kid  # promotes the published key
        token = await authgate_server.user_token("dave")
        assert (await verifier.verify_access_token(token)).kid == kid
        assert verifier.status().fetches == fetches
        # ``--now`` without a published key: the active key is one this verifier never
        # saw; its kid triggers one refetch.
        clock.advance(31)
        kid = await service.rotate_keys(now=True)
        assert kid not in verifier.status().kids
        token = await authgate_server.user_token("erin")
        assert (await verifier.verify_access_token(token)).kid == kid
        assert verifier.status().fetches == fetches + 1
        assert (await verifier.verify_access_token(old)).sub  # retiring keys stay published
        # Again within the refetch interval: the kid stays unknown until the interval
        # has passed (CVE-2026-48524 rate limit), then it verifies.
        kid = await service.rotate_keys(now=True)
        token = await authgate_server.user_token("frank")
        with pytest.raises(UnknownKey):
            await verifier.verify_access_token(token)
        clock.advance(31)
        assert (await verifier.verify_access_token(token)).kid == kid
        assert verifier.status().fetches == fetches + 2


async def test_revoked_token_is_rejected_when_introspection_is_on(
    authgate_server: Running,
) -> None:
    caller = await authgate_server.user_token("orders-svc", scope=INTROSPECT_SCOPE)
    token = await authgate_server.user_token("grace")
    clock = clock_now()
    async with (
        JWKSVerifier.from_issuer(authgate_server.url, audience=AUDIENCE) as offline,
        JWKSVerifier.from_issuer(
            authgate_server.url,
            audience=AUDIENCE,
            clock=clock,
            introspection=BearerCredentials(caller),
            introspection_ttl=5,
        ) as online,
    ):
        assert (await online.verify_access_token(token)).sub
        revoked = await authgate_server.http.post("/auth/revoke", data={"token": token})
        assert revoked.status_code == 200
        assert (await online.verify_access_token(token)).sub  # the 5 s answer cache
        clock.advance(6)
        with pytest.raises(Revoked):
            await online.verify_access_token(token)
        # Without introspection a revoked token stays valid offline until its exp.
        assert (await offline.verify_access_token(token)).sub


async def test_example_resource_server_accepts_authgate_tokens(authgate_server: Running) -> None:
    token = await authgate_server.user_token("heidi")
    app = load_example().create_app(authgate_server.url, AUDIENCE)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as orders,
    ):
        assert (await orders.get("/health")).json()["ready"] is True
        me = await orders.get("/api/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["sub"] == (await authgate_server.service.get_user_by_username("heidi")).id
        denied = await orders.get("/api/orders", headers=headers)
        assert denied.status_code == 403
        assert (await orders.get("/api/me")).status_code == 401


async def test_cli_key_rotation_is_picked_up(authgate_server: Running, tmp_path: Path) -> None:
    """``authgate keys rotate --now`` in another process, on the same data dir: the server
    reloads its keys from the database, and this verifier learns the new kid."""
    clock = clock_now()
    async with JWKSVerifier.from_issuer(
        authgate_server.url, audience=AUDIENCE, clock=clock
    ) as verifier:
        await verifier.verify_access_token(await authgate_server.user_token("ivan"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env["AUTHGATE_DATA_DIR"] = str(tmp_path)  # the server's SQLite file and keys
        cli = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("authgate")),
            "keys",
            "rotate",
            "--now",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await cli.communicate()
        assert cli.returncode == 0, err.decode()
        kid = out.decode().split()[-1]
        # The server applies key changes from the database log (polled every 0.5 s
        # without Redis); wait until it signs with the new key.
        deadline = asyncio.get_running_loop().time() + 20
        while authgate_server.service.keyring.active.kid != kid:
            assert asyncio.get_running_loop().time() < deadline, "server never reloaded keys"
            await asyncio.sleep(0.05)
        assert kid not in verifier.status().kids
        token = await authgate_server.user_token("judy")
        assert (await verifier.verify_access_token(token)).kid == kid
