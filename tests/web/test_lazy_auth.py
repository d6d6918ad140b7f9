"""Verify only when someone needs the answer; remember what is invalid for good;
refuse cheaply (issue 18). Every semantic of the required routes and of the
dependencies is unchanged: the same 401/403 bodies and headers, at most one
verification per request.

The verifier is real (the codec with its caches and a revocation hook) and counts
its calls; its key is a real Ed25519 key that counts signature checks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.authentication import requires

from _spies import CountingKey
from authgate.clock import FrozenClock
from authgate.testing import CodecVerifier
from authgate.tokens import KeyRing, TokenCodec, VerifiedToken, VerifiedTokenCache
from authgate.web import CurrentUser, OptionalUser, TokenGuard, get_principal, require_scopes
from verifier._uvicorn import serving

ISSUER = "https://auth.example"
AUDIENCE = "api"
INVALID = (
    'Bearer realm="authgate", error="invalid_token", '
    'error_description="the access token is missing, invalid, expired or revoked"'
)
NO_CREDENTIALS = 'Bearer realm="authgate"'
BODY = {
    "error": "invalid_token",
    "error_description": "the access token is missing, invalid, expired or revoked",
}


class CountingVerifier(CodecVerifier):
    """The real codec-backed verifier, counting its calls."""

    calls = 0

    async def verify_access_token(self, token: str) -> VerifiedToken:
        self.calls += 1
        return await super().verify_access_token(token)


class Denylist:
    def __init__(self) -> None:
        self.jtis: set[str] = set()

    def is_revoked(self, token: VerifiedToken) -> bool:
        return token.jti in self.jtis


@dataclass
class Rig:
    key: CountingKey
    clock: FrozenClock
    codec: TokenCodec
    denylist: Denylist
    verifier: CountingVerifier

    def token(self, sub: str = "ann", scopes: tuple[str, ...] = (), **kw: Any) -> str:
        kw.setdefault("ttl", 600)
        token, _ = self.codec.issue(sub=sub, client_id="web", scope=frozenset(scopes), **kw)
        return token

    def expired(self, sub: str = "ann") -> str:
        token = self.token(sub, ttl=60)
        self.clock.advance(3600)
        return token

    def bad_tokens(self) -> dict[str, str]:
        """One bearer per kind of bad token (the expired one last: it moves the clock)."""
        good = self.token("zed")
        h, p, s = good.split(".")
        revoked = self.token("rev")
        self.denylist.jtis.add(self.codec.verify(revoked).jti)
        return {
            "malformed": "not.a.jwt",
            "bad_signature": f"{h}.{p}.{s[:-4]}AAAA",
            "revoked": revoked,
            "wrong_audience": self.token("aud", audience="someone-else"),
            "expired": self.expired(),
        }


@pytest.fixture
def rig() -> Rig:
    key = CountingKey()
    clock = FrozenClock()
    denylist = Denylist()
    codec = TokenCodec(
        KeyRing.single(key),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
        leeway=0,
        cache=VerifiedTokenCache(),
        revocation=denylist,
    )
    return Rig(key, clock, codec, denylist, CountingVerifier(codec))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build(rig: Rig, *, require: tuple[str, ...] = ("/api/",)) -> FastAPI:
    """The README's two forms in one app: routes under ``require`` (middleware) and
    routes with dependencies, behind one app-wide middleware."""
    app = FastAPI()

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict[str, str | None]:
        return {"sub": user.sub if user else None}

    @app.get("/scoped")
    async def scoped(
        user: Annotated[VerifiedToken, require_scopes("items:read")],
    ) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/api/thing")
    async def thing() -> dict[str, str | None]:
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        principal = get_principal()
        return {
            "sub": principal.sub if principal else None,
            "user": request.user.display_name,
            "authenticated": request.user.is_authenticated,
            "scopes": request.auth.scopes,
            "state": getattr(request.state.authgate_principal, "sub", None),
        }

    @app.get("/starlette")
    @requires("items:read")
    async def starlette_route(request: Request) -> dict[str, str]:
        return {"user": request.user.display_name}

    TokenGuard(rig.verifier).install(app, require=require)
    return app


@pytest.mark.parametrize("kind", ["valid", "none", "other scheme", "empty bearer", "two tokens"])
def test_public_route_never_verifies_whatever_the_bearer_holds(rig: Rig, kind: str) -> None:
    client = TestClient(build(rig))
    bad = rig.bad_tokens()
    first: dict[str, dict[str, str]] = {
        "valid": bearer(rig.token()),
        "none": {},
        "other scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer"},
        "two tokens": {"Authorization": "Bearer a b"},
    }
    headers = [first[kind], *(bearer(t) for t in bad.values())]
    verifies = rig.key.verifies
    for h in headers:
        r = client.get("/public", headers=h)
        assert (r.status_code, r.json()) == (200, {"ok": "yes"})
    assert rig.verifier.calls == 0
    assert rig.key.verifies == verifies


@pytest.mark.parametrize("path", ["/api/thing", "/me", "/maybe", "/scoped"])
def test_required_route_refuses_each_kind_of_bad_token_with_the_same_answer(
    rig: Rig, path: str
) -> None:
    client = TestClient(build(rig))
    for kind, token in rig.bad_tokens().items():
        for _ in range(2):  # the second time from the remembered verdict, if any
            r = client.get(path, headers=bearer(token))
            assert r.status_code == 401, (kind, r.text)
            assert r.json() == BODY, kind
            assert r.headers["www-authenticate"] == INVALID, kind
            assert r.headers["cache-control"] == "no-store"


def test_no_credentials_gets_no_error_attribute_and_the_same_body(rig: Rig) -> None:
    client = TestClient(build(rig))
    for path in ("/api/thing", "/me", "/scoped"):
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            r = client.get(path, headers=headers)
            assert (r.status_code, r.json()) == (401, BODY)
            assert r.headers["www-authenticate"] == NO_CREDENTIALS
    assert client.get("/maybe").json() == {"sub": None}


def test_optional_user_is_still_401_for_a_bad_token(rig: Rig) -> None:
    client = TestClient(build(rig))
    for kind, token in rig.bad_tokens().items():
        r = client.get("/maybe", headers=bearer(token))
        assert (r.status_code, r.json()) == (401, BODY), kind
    assert client.get("/maybe", headers=bearer(rig.token("bo"))).json() == {"sub": "bo"}


def test_token_revoked_after_being_remembered_valid_is_refused_at_once(rig: Rig) -> None:
    client = TestClient(build(rig))
    token = rig.token("cy")
    for path in ("/me", "/api/thing"):
        assert client.get(path, headers=bearer(token)).json() == {"sub": "cy"}
    rig.denylist.jtis.add(rig.codec.verify(token).jti)
    for path in ("/me", "/api/thing", "/maybe", "/me"):
        r = client.get(path, headers=bearer(token))
        assert (r.status_code, r.json()) == (401, BODY), path
    assert rig.key.verifies == 1


def test_remembered_invalid_token_never_makes_a_valid_token_fail(rig: Rig) -> None:
    client = TestClient(build(rig))
    stale = rig.expired("dee")
    for _ in range(3):
        assert client.get("/me", headers=bearer(stale)).status_code == 401
    fresh = rig.token("dee")
    for path in ("/me", "/api/thing", "/maybe"):
        r = client.get(path, headers=bearer(fresh))
        assert (r.status_code, r.json()["sub"]) == (200, "dee"), path
    assert client.get("/me", headers=bearer(stale)).status_code == 401


def test_a_request_verifies_at_most_once_however_many_readers_ask(rig: Rig) -> None:
    client = TestClient(build(rig))
    r = client.get("/who", headers=bearer(rig.token("eve", ("items:read",))))
    assert r.json() == {
        "sub": "eve",
        "user": "eve",
        "authenticated": True,
        "scopes": ["items:read"],
        "state": "eve",
    }
    assert rig.verifier.calls == 1
    anonymous = client.get("/who", headers=bearer("junk")).json()
    assert anonymous == {
        "sub": None,
        "user": "",
        "authenticated": False,
        "scopes": [],
        "state": None,
    }
    assert rig.verifier.calls == 2


def test_starlette_requires_works_and_a_public_route_still_never_verifies(rig: Rig) -> None:
    client = TestClient(build(rig))
    ok = client.get("/starlette", headers=bearer(rig.token("fay", ("items:read",))))
    assert (ok.status_code, ok.json()) == (200, {"user": "fay"})
    assert client.get("/starlette", headers=bearer(rig.token("fay"))).status_code == 403
    assert client.get("/starlette").status_code == 403  # Starlette's own default
    assert client.get("/starlette", headers=bearer("junk")).status_code == 403
    calls = rig.verifier.calls
    assert client.get("/public", headers=bearer(rig.expired())).status_code == 200
    assert rig.verifier.calls == calls


def test_install_takes_the_middleware_options(rig: Rig) -> None:
    app = build(rig, require=("/api/", "/me"))
    assert [getattr(m.cls, "__name__", "") for m in app.user_middleware].count(
        "AuthMiddleware"
    ) == 1
    client = TestClient(app)
    assert client.get("/api/thing").status_code == 401
    assert client.get("/me").headers["www-authenticate"] == NO_CREDENTIALS
    excluded = FastAPI()

    @excluded.get("/api/open")
    async def open_route() -> dict[str, str | None]:
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    TokenGuard(rig.verifier).install(excluded, require=["/api/"], exclude=["/api/open"])
    open_client = TestClient(excluded)
    assert open_client.get("/api/open").json() == {"sub": None}
    assert open_client.get("/api/open", headers=bearer(rig.token("gil"))).json() == {"sub": "gil"}


def test_authgate_install_takes_the_middleware_options() -> None:
    """Without its service running, AuthGate's public routes still answer with any
    bearer (they never verify) and a required prefix still refuses."""
    from authgate.endpoints import AuthGate
    from authgate.settings import Settings

    gate = AuthGate(Settings(_env_file=None))
    app = FastAPI()

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    gate.install(app, require=["/admin/"], exclude=["/admin/health"])
    assert [getattr(m.cls, "__name__", "") for m in app.user_middleware].count(
        "AuthMiddleware"
    ) == 1
    client = TestClient(app)
    assert client.get("/public", headers=bearer("x.y.z")).status_code == 200
    refused = client.get("/admin/users")
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, NO_CREDENTIALS)
    assert client.get("/admin/health").status_code == 404  # passed through


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/me", "/api/thing", "/maybe"])
async def test_burst_with_one_expired_token_gets_identical_401s(rig: Rig, path: str) -> None:
    stale = rig.expired()
    async with serving(build(rig)) as url, httpx.AsyncClient(base_url=url) as client:
        answers = await asyncio.gather(
            *(client.get(path, headers=bearer(stale)) for _ in range(50))
        )
        public = await asyncio.gather(
            *(client.get("/public", headers=bearer(stale)) for _ in range(50))
        )
    assert {a.status_code for a in answers} == {401}
    assert {a.content for a in answers} == {answers[0].content}
    assert answers[0].json() == BODY
    assert {a.headers["www-authenticate"] for a in answers} == {INVALID}
    assert rig.key.verifies == 1  # once; every other request was a lookup
    assert {p.status_code for p in public} == {200}
    assert rig.verifier.calls == 50


class WaitingVerifier(CountingVerifier):
    """The real verifier, waiting on the event loop first (as a JWKS verifier does for
    a new kid's keys, or with introspection on)."""

    async def verify_access_token(self, token: str) -> VerifiedToken:
        await asyncio.sleep(0)
        return await super().verify_access_token(token)


def test_a_verifier_that_must_wait_is_awaited_by_the_dependencies(rig: Rig) -> None:
    """``get_principal()`` cannot wait inside an async route: it reads ``None`` there
    until an awaiting reader (a dependency, ``require=[...]``) has verified; nothing
    breaks, nothing is verified twice, and a sync route (a worker thread) waits."""
    app = FastAPI()

    @app.get("/peek")
    async def peek() -> dict[str, str | None]:
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    @app.get("/me-then-peek")
    async def me_then_peek(user: CurrentUser) -> dict[str, str | None]:
        principal = get_principal()
        return {"sub": user.sub, "peek": principal.sub if principal else None}

    @app.get("/sync-peek")
    def sync_peek() -> dict[str, str | None]:
        principal = get_principal()
        return {"sub": principal.sub if principal else None}

    verifier = WaitingVerifier(rig.codec)
    TokenGuard(verifier).install(app, middleware=True)
    client = TestClient(app)
    token = bearer(rig.token("hal"))
    assert client.get("/peek", headers=token).json() == {"sub": None}
    assert client.get("/me-then-peek", headers=token).json() == {"sub": "hal", "peek": "hal"}
    assert client.get("/sync-peek", headers=token).json() == {"sub": "hal"}
    assert verifier.calls == 2  # /peek abandoned its wait before the verifier was called


def test_an_outer_middleware_sees_what_the_route_wrote_in_request_state(rig: Rig) -> None:
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.responses import Response

    seen: list[object] = []

    class Outer(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            request.state.before = "outer"
            response = await call_next(request)
            seen.append(getattr(request.state, "written", None))
            return response

    app = FastAPI()

    @app.get("/write")
    async def write(request: Request) -> dict[str, str]:
        request.state.written = "by the route"
        return {"before": request.state.before}

    TokenGuard(rig.verifier).install(app, middleware=True)
    app.add_middleware(Outer)
    with TestClient(app) as client:
        assert client.get("/write", headers=bearer("junk")).json() == {"before": "outer"}
    assert seen == ["by the route"]
    assert rig.verifier.calls == 0
