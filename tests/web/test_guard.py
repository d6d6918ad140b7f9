"""The resource-server guard: bearer transport, scopes, OptionalUser, middleware,
error bodies and headers (RFC 6750 §2.1, §3, §3.1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.testing import AuthGateTestKit

INVALID = (
    'Bearer realm="authgate", error="invalid_token", '
    'error_description="the access token is missing, invalid, expired or revoked"'
)
#: RFC 6750 §3.1: no authentication information at all gets no error attribute.
NO_CREDENTIALS = 'Bearer realm="authgate"'


def test_valid_bearer_token_reaches_the_route(kit: AuthGateTestKit, client: TestClient) -> None:
    r = client.get("/me", headers=kit.headers("alice", ["a", "b"]))
    assert r.status_code == 200
    assert r.json() == {"sub": "alice", "scope": ["a", "b"]}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(
    kit: AuthGateTestKit, client: TestClient, scheme: str
) -> None:
    r = client.get("/me", headers={"Authorization": f"{scheme} {kit.token('bob')}"})
    assert r.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_no_bearer_token_is_401_without_an_error_attribute(
    client: TestClient, headers: dict[str, str]
) -> None:
    # RFC 6750 §3.1: "SHOULD NOT include an error code" without credentials; the body
    # is the one every 401 has.
    r = client.get("/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == NO_CREDENTIALS
    assert r.json()["error"] == "invalid_token"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer not.a.jwt", "Bearer x.y.z", "Token abc"],
)
def test_bad_authorization_headers_are_401_never_500(client: TestClient, header: str) -> None:
    r = client.get("/me", headers={"Authorization": header})
    assert r.status_code == 401
    # RFC 6750 §3.1: another scheme is no bearer credentials at all.
    expected = NO_CREDENTIALS if header.startswith("Token") else INVALID
    assert r.headers["www-authenticate"] == expected


def test_every_invalid_token_gets_the_same_body(kit: AuthGateTestKit, client: TestClient) -> None:
    expired = kit.token("a", ttl=60)
    kit.advance(3600)
    other_audience = kit.token("a", audience="other")
    revoked = kit.token("a")
    kit.revoke(revoked)
    tampered = kit.token("a")[:-4] + "AAAA"
    bodies = set()
    for token in (expired, other_audience, revoked, tampered, "garbage"):
        r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == INVALID
        bodies.add(r.content)
    assert len(bodies) == 1


def test_query_string_token_is_never_accepted(kit: AuthGateTestKit, client: TestClient) -> None:
    token = kit.token("alice")
    r = client.get("/me", params={"access_token": token})
    assert r.status_code == 401
    # Never read, so the request carries no credentials at all (RFC 6750 §3.1).
    assert r.headers["www-authenticate"] == NO_CREDENTIALS


def test_missing_scope_is_403_insufficient_scope(kit: AuthGateTestKit, client: TestClient) -> None:
    r = client.post("/items", headers=kit.headers("alice", ["items:read"]))
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == (
        'Bearer realm="authgate", error="insufficient_scope", scope="items:write"'
    )
    assert r.json()["error"] == "insufficient_scope"
    ok = client.post("/items", headers=kit.headers("alice", ["items:write"]))
    assert ok.status_code == 201


def test_all_required_scopes_are_needed(kit: AuthGateTestKit, client: TestClient) -> None:
    r = client.get("/admin", headers=kit.headers("alice", ["admin"]))
    assert r.status_code == 403
    assert 'scope="admin items:write"' in r.headers["www-authenticate"]
    assert (
        client.get("/admin", headers=kit.headers("a", ["admin", "items:write"])).status_code == 200
    )


def test_optional_user_is_none_without_token_but_401_with_a_bad_one(
    kit: AuthGateTestKit, client: TestClient
) -> None:
    assert client.get("/maybe").json() == {"sub": None}
    assert client.get("/maybe", headers=kit.headers("carol")).json() == {"sub": "carol"}
    r = client.get("/maybe", headers={"Authorization": "Bearer junk"})
    assert r.status_code == 401


def test_middleware_leaves_the_principal_in_request_state(
    kit: AuthGateTestKit, client: TestClient
) -> None:
    assert client.get("/state", headers=kit.headers("dave")).json() == {"sub": "dave"}
    assert client.get("/state").json() == {"sub": None}


def test_middleware_required_prefix_refuses_without_token(
    kit: AuthGateTestKit, client: TestClient
) -> None:
    r = client.get("/api/thing")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == NO_CREDENTIALS
    bad = client.get("/api/thing", headers={"Authorization": "Bearer nope"})
    assert bad.headers["www-authenticate"] == INVALID
    assert client.get("/api/thing", headers=kit.headers("erin")).json() == {"sub": "erin"}


class CountingVerifier:
    def __init__(self, kit: AuthGateTestKit) -> None:
        self.kit = kit
        self.calls = 0

    async def verify_access_token(self, token: str):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.kit.codec.verify(token)


def test_middleware_and_dependency_verify_only_once(
    kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    app = make_app(kit, middleware=True)
    counting = CountingVerifier(kit)
    app.state.authgate_guard.verifier = counting
    client = TestClient(app)
    assert (
        client.get("/admin", headers=kit.headers("f", ["admin", "items:write"])).status_code == 200
    )
    assert counting.calls == 1


def test_scopes_are_still_checked_when_the_middleware_verified_first(
    kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    # The dependency reuses the middleware's result; the scope check must not be skipped.
    client = TestClient(make_app(kit, middleware=True))
    narrow = kit.headers("g", ["items:write"])
    assert client.get("/me", headers=narrow).status_code == 200
    denied = client.get("/admin", headers=narrow)
    assert denied.status_code == 403
    assert denied.json()["scope"] == "admin items:write"
    assert client.post("/items", headers=kit.headers("g", ["other"])).status_code == 403
    assert client.get("/me", headers={"Authorization": "Bearer junk"}).status_code == 401
    assert client.get("/maybe").json() == {"sub": None}


def test_public_route_ignores_a_bad_token(client: TestClient) -> None:
    r = client.get("/public", headers={"Authorization": "Bearer junk"})
    assert r.status_code == 200


def test_openapi_lists_scopes_and_token_url(
    kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    app = make_app(kit)
    doc = TestClient(app).get("/openapi.json").json()
    flow = doc["components"]["securitySchemes"]["authgate"]["flows"]["password"]
    assert flow["tokenUrl"] == "/auth/token"
    assert {"items:write", "admin"} <= flow["scopes"].keys()
    assert doc["paths"]["/items"]["post"]["security"] == [{"authgate": ["items:write"]}]


def test_websocket_authenticates_with_the_subprotocol(
    kit: AuthGateTestKit, client: TestClient
) -> None:
    protocols = ["authgate", f"authgate.bearer.{kit.token('gina')}"]
    with client.websocket_connect("/ws", subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "authgate"
        assert ws.receive_json() == {"sub": "gina"}


def test_websocket_without_token_is_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.code == 1008
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/ws", subprotocols=["authgate", "authgate.bearer.junk"]),
    ):
        pass


def test_websocket_first_message_authentication(kit: AuthGateTestKit, client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/ws-first") as ws:
        ws.send_json({"type": "auth", "token": kit.token("hank")})
        assert ws.receive_json() == {"sub": "hank"}
    with client.websocket_connect("/ws-first") as ws:
        ws.send_json({"type": "auth", "token": "bad"})
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == 1008


def test_cookie_transport_survives_a_malformed_neighbour_cookie(
    cookie_kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    client = TestClient(make_app(cookie_kit), base_url="https://testserver")
    token = cookie_kit.token("ivy")
    header = f'other="unterminated; __Host-authgate-access={token}; x=y\\z'
    r = client.get("/me", headers={"Cookie": header})
    assert r.status_code == 200
    assert r.json()["sub"] == "ivy"


def test_cookie_transport_requires_csrf_on_unsafe_methods(
    cookie_kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    client = TestClient(make_app(cookie_kit), base_url="https://testserver")
    token = cookie_kit.token("jo", ["items:write"])
    cookies = f"__Host-authgate-access={token}; __Host-authgate-csrf=abc123"
    assert client.get("/me", headers={"Cookie": cookies}).status_code == 200
    denied = client.post("/items", headers={"Cookie": cookies})
    assert denied.status_code == 403
    assert denied.json()["error"] == "csrf_rejected"
    wrong = client.post("/items", headers={"Cookie": cookies, "X-CSRF-Token": "abc124"})
    assert wrong.status_code == 403
    ok = client.post("/items", headers={"Cookie": cookies, "X-CSRF-Token": "abc123"})
    assert ok.status_code == 201


def test_public_surface_is_importable() -> None:
    import authgate.endpoints as endpoints
    import authgate.web as web

    for name in web.__all__:
        assert getattr(web, name) is not None
    # The resource-server half names no auth-server endpoint (ARCHITECTURE.md, layers).
    assert not hasattr(web, "AuthGate")
    assert endpoints.AuthGate.__name__ == "AuthGate"


def test_guard_wraps_any_asgi_app(kit: AuthGateTestKit) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.state.authgate_principal.sub})

    inner = Starlette(routes=[Route("/api/hello", hello)])
    client = TestClient(kit.guard.middleware(inner, require=["/api/"]))
    assert client.get("/api/hello").status_code == 401
    assert client.get("/api/hello", headers=kit.headers("kim")).json() == {"sub": "kim"}
    assert kit.guard.current_principal is kit.guard.current_user


async def _asgi_get(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return status


@pytest.mark.anyio
async def test_requests_leave_no_cyclic_garbage(
    kit: AuthGateTestKit, make_app: Callable[..., FastAPI]
) -> None:
    # A stored exception whose traceback holds the request scope would form a cycle per
    # request; the cyclic GC then stalls the server now and then (p99).
    import gc

    app = make_app(kit, middleware=True)
    token = kit.token("lee").encode()
    cases = [
        ("/public", [], 200),
        ("/public", [(b"authorization", b"Basic abc")], 200),
        ("/me", [(b"authorization", b"Bearer " + token)], 200),
        ("/me", [], 401),
        ("/me", [(b"authorization", b"Bearer x.y.z")], 401),
        ("/maybe", [], 200),
        ("/api/thing", [], 401),
    ]
    for path, headers, status in cases:  # warm up every path once
        assert await _asgi_get(app, path, headers) == status
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            for path, headers, _status in cases:
                await _asgi_get(app, path, headers)
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.anyio
async def test_a_request_without_credentials_costs_no_exception(kit: AuthGateTestKit) -> None:
    # Every public request behind the middleware takes this path: the result records
    # "no credentials" (error None) and the MissingToken is made only when asked for.
    from authgate.errors import MissingToken
    from authgate.settings import CookieSettings
    from authgate.web import TokenGuard

    guard = TokenGuard(CountingVerifier(kit))
    scope = {"type": "http", "headers": [(b"host", b"x")], "path": "/"}
    result = await guard.authenticate(scope)
    assert (result.principal, result.error, result.transport) == (None, None, "header")
    assert await guard.principal(scope, optional=True) is None
    with pytest.raises(MissingToken):
        await guard.principal(scope)
    # The same reading on every transport: no bearer credentials → error None.
    basic = {"type": "http", "headers": [(b"authorization", b"Basic abc")], "path": "/"}
    assert (await guard.authenticate(basic)).error is None
    cookies = TokenGuard(CountingVerifier(kit), cookies=CookieSettings(enabled=True))
    bare = {"type": "http", "headers": [], "path": "/", "method": "GET"}
    assert (await cookies.authenticate(bare)).error is None
    bad = {"type": "http", "headers": [(b"authorization", b"Bearer x.y.z")], "path": "/"}
    assert (await guard.authenticate(bad)).error is not None
