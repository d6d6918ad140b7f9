"""Attacks over HTTP on ``require=[...]`` / ``exclude=[...]`` path matching and on the
lazily verified caller (``web/middleware.py``, ``web/principal_context.py``).

A prefix is matched on the path the router routes on (Starlette's route path:
``path`` less ``root_path``), so a sub-app mounted elsewhere or served behind a
``--root-path`` keeps its protection; ``/admin/`` also covers ``/admin``; an
exemption stops at a segment boundary.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from _spies import CountingKey
from authgate.clock import FrozenClock
from authgate.testing import CodecVerifier
from authgate.tokens import KeyRing, TokenCodec, VerifiedTokenCache
from authgate.web import TokenGuard, get_principal
from authgate.web.websocket import authenticate_first_message
from verifier._uvicorn import serving

BODY = {
    "error": "invalid_token",
    "error_description": "the access token is missing, invalid, expired or revoked",
}


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(
        KeyRing.single(CountingKey()),
        issuer="https://auth.example",
        audience="api",
        clock=FrozenClock(),
        leeway=0,
        cache=VerifiedTokenCache(),
    )


def token(codec: TokenCodec, sub: str = "ann") -> str:
    return codec.issue(sub=sub, client_id="web", ttl=600)[0]


def secrets_app() -> FastAPI:
    app = FastAPI()

    @app.get("/admin")
    async def admin_root() -> dict[str, str]:
        return {"secret": "root"}

    @app.get("/admin/x")
    async def admin_x() -> dict[str, str]:
        return {"secret": "x"}

    @app.get("/api/public")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/api/publicity/plans")
    async def plans() -> dict[str, str]:
        return {"secret": "plans"}

    @app.get("/sync/who")
    def sync_who(request: Request) -> dict[str, Any]:
        principal = get_principal()
        return {
            "ctx": principal.sub if principal else None,
            "user": request.user.display_name,
        }

    return app


def guarded(codec: TokenCodec) -> FastAPI:
    app = secrets_app()
    TokenGuard(CodecVerifier(codec)).install(
        app, require=["/admin/", "/api/", "/sync/"], exclude=["/api/public"]
    )
    return app


def test_require_prefix_with_a_slash_also_covers_the_bare_path(codec: TokenCodec) -> None:
    client = TestClient(guarded(codec))
    response = client.get("/admin")
    assert response.status_code == 401
    assert response.json() == BODY
    ok = client.get("/admin", headers={"Authorization": f"Bearer {token(codec)}"})
    assert ok.json() == {"secret": "root"}


@pytest.mark.parametrize("path", ["/api/public", "/api/public/"])
def test_exclude_prefix_exempts_its_own_path(codec: TokenCodec, path: str) -> None:
    response = TestClient(guarded(codec)).get(path, follow_redirects=False)
    assert response.status_code in (200, 307)


def test_exclude_prefix_stops_at_a_segment_boundary(codec: TokenCodec) -> None:
    # exclude=["/api/public"] must not exempt /api/publicity/... from require=["/api/"].
    response = TestClient(guarded(codec)).get("/api/publicity/plans")
    assert response.status_code == 401
    assert response.json() == BODY


def test_require_prefix_holds_in_a_mounted_sub_app(codec: TokenCodec) -> None:
    outer = Starlette(routes=[Mount("/v1", app=guarded(codec))])
    client = TestClient(outer)
    for path in ("/v1/admin/x", "/v1/admin", "/v1/api/publicity/plans"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == BODY
    assert client.get("/v1/api/public").json() == {"ok": "yes"}
    ok = client.get("/v1/admin/x", headers={"Authorization": f"Bearer {token(codec)}"})
    assert ok.json() == {"secret": "x"}


@pytest.mark.anyio
async def test_require_prefix_holds_behind_uvicorn_root_path(codec: TokenCodec) -> None:
    # uvicorn --root-path puts the mount point in front of scope["path"]; the router
    # strips it again, so a prefix matched on the raw path would never match.
    async with (
        serving(guarded(codec), root_path="/v1") as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        refused = await asyncio.gather(
            *(client.get(p) for p in ["/admin/x", "/admin", "/api/publicity/plans"] * 10)
        )
        good = await client.get("/admin/x", headers={"Authorization": f"Bearer {token(codec)}"})
    assert {r.status_code for r in refused} == {401}
    assert all(r.json() == BODY for r in refused)
    assert good.json() == {"secret": "x"}


@pytest.mark.anyio
async def test_sync_routes_in_a_burst_each_read_their_own_caller(codec: TokenCodec) -> None:
    # Worker threads, keep-alive connections and a ContextVar: no request may see
    # another's caller, whether valid, bad or absent.
    app = guarded(codec)
    subs = [f"user{i}" for i in range(40)]
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        good = asyncio.gather(
            *(
                client.get("/sync/who", headers={"Authorization": f"Bearer {token(codec, s)}"})
                for s in subs
            )
        )
        bad = asyncio.gather(
            *(client.get("/sync/who", headers={"Authorization": "Bearer not.a.jwt"}) for _ in subs)
        )
        good_answers, bad_answers = await asyncio.gather(good, bad)
    assert [r.json() for r in good_answers] == [{"ctx": s, "user": s} for s in subs]
    assert {r.status_code for r in bad_answers} == {401}


class CleanupAwaitingVerifier(CodecVerifier):
    """A verifier that waits, and awaits in its cleanup (as httpx and anyio do)."""

    async def verify_access_token(self, token: str) -> Any:
        try:
            await asyncio.sleep(0)
        finally:
            await asyncio.sleep(0)
        return self.codec.verify(token)


def test_sync_reader_of_a_waiting_verifier_gets_no_500(codec: TokenCodec) -> None:
    # request.user in an async route cannot wait: it reads "not authenticated" until
    # an awaiting reader verified, and abandoning the verification is never a 500.
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        return {"authenticated": request.user.is_authenticated}

    TokenGuard(CleanupAwaitingVerifier(codec)).install(app, middleware=True)
    client = TestClient(app, raise_server_exceptions=False)
    for value in (f"Bearer {token(codec)}", "Bearer not.a.jwt"):
        response = client.get("/who", headers={"Authorization": value})
        assert response.status_code == 200
        assert response.json() == {"authenticated": False}


def socket_app(codec: TokenCodec) -> FastAPI:
    """A WebSocket route under ``require`` that never asks for the caller, and one under
    ``exclude`` that authenticates by its first message."""
    app = FastAPI()

    @app.websocket("/api/feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="authgate")
        await websocket.send_json({"secret": "feed", "sub": get_principal_sub()})
        await websocket.close()

    @app.websocket("/api/public/first")
    async def first(websocket: WebSocket) -> None:
        principal = await authenticate_first_message(websocket, guard)
        if principal is not None:
            await websocket.send_json({"sub": principal.sub})
            await websocket.close()

    guard = TokenGuard(CodecVerifier(codec))
    guard.install(app, require=["/api/"], exclude=["/api/public"])
    return app


def get_principal_sub() -> str | None:
    principal = get_principal()
    return principal.sub if principal is not None else None


def test_websocket_under_require_is_refused_before_the_route_runs(codec: TokenCodec) -> None:
    client = TestClient(socket_app(codec))
    expired = codec.issue(sub="old", client_id="web", ttl=600)[0]
    codec.clock.advance(3600)  # type: ignore[attr-defined]
    for protocols in (
        [],
        ["authgate"],
        ["authgate", "authgate.bearer.junk"],
        ["authgate", f"authgate.bearer.{expired}"],
    ):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/feed", subprotocols=protocols) as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008
        assert "junk" not in (refused.value.reason or "")
    protocols = ["authgate", f"authgate.bearer.{token(codec, 'zoe')}"]
    with client.websocket_connect("/api/feed", subprotocols=protocols) as ws:
        assert ws.receive_json() == {"secret": "feed", "sub": "zoe"}


def test_websocket_under_exclude_still_authenticates_by_first_message(codec: TokenCodec) -> None:
    client = TestClient(socket_app(codec))
    with client.websocket_connect("/api/public/first") as ws:
        ws.send_json({"type": "auth", "token": token(codec, "ike")})
        assert ws.receive_json() == {"sub": "ike"}


@pytest.mark.anyio
async def test_websocket_upgrades_under_require_are_refused_by_a_real_server(
    codec: TokenCodec,
) -> None:
    # Over uvicorn, a burst of upgrades without a valid token: every handshake is
    # answered 403 and the route never sends its secret; a valid one gets through.
    async with serving(socket_app(codec)) as url:
        ws_url = url.replace("http://", "ws://") + "/api/feed"

        async def attempt(protocols: list[str]) -> int | str:
            offered = protocols or None  # [] would send an empty header (a 400)
            try:
                async with websockets.connect(ws_url, subprotocols=offered) as ws:  # type: ignore[arg-type]
                    return str(await ws.recv())
            except websockets.InvalidStatus as exc:
                return exc.response.status_code

        bad = [[], ["authgate", "authgate.bearer.junk"], ["authgate", "authgate.bearer."]]
        answers = await asyncio.gather(*(attempt(p) for p in bad * 10))
        good = await attempt(["authgate", f"authgate.bearer.{token(codec, 'max')}"])
    assert set(answers) == {403}, list(zip(bad * 10, answers, strict=True))
    assert json.loads(str(good)) == {"secret": "feed", "sub": "max"}
