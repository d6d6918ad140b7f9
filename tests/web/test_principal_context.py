"""``get_principal()``: the caller below AuthMiddleware, for the request only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import AuthGateTestKit
from authgate.web import AuthMiddleware, get_principal


def _app(kit: AuthGateTestKit) -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who() -> dict[str, Any]:
        await asyncio.sleep(0)  # let concurrent requests interleave
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    @app.get("/who-sync")
    def who_sync() -> dict[str, Any]:  # runs in the thread pool
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    guard = kit.install(app)
    app.add_middleware(AuthMiddleware, guard=guard)
    return app


@pytest.mark.anyio
async def test_get_principal_is_the_caller_and_never_outlives_its_request(
    kit: AuthGateTestKit,
) -> None:
    app = _app(kit)
    # One task for every request (ASGITransport calls the app in the caller's task):
    # a value left behind by one request would show in the next.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/who", headers=kit.headers("ann"))).json() == {"sub": "ann"}
        assert (await c.get("/who")).json() == {"sub": None}
        assert get_principal() is None
        sync = await c.get("/who-sync", headers=kit.headers("bob"))
        assert sync.json() == {"sub": "bob"}
        bad = await c.get("/who", headers={"Authorization": "Bearer x.y.z"})
        assert bad.json() == {"sub": None}
    assert get_principal() is None


@pytest.mark.anyio
async def test_concurrent_requests_each_see_their_own_caller(kit: AuthGateTestKit) -> None:
    app = _app(kit)
    names = [f"user{i}" for i in range(40)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        answers = await asyncio.gather(*(c.get("/who", headers=kit.headers(n)) for n in names))
    assert [a.json()["sub"] for a in answers] == names


def test_get_principal_outside_a_request_is_none() -> None:
    assert get_principal() is None
