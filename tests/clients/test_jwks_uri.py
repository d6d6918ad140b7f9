"""``private_key_jwt`` clients registered with a ``jwks_uri`` (issue 15, RFC 7523 §2.2,
SECURITY.md A.7 #55): the server fetches their keys over real HTTP from a second
uvicorn server on loopback, caches them per client, refetches once on a new ``kid``
(one fetch for a burst), keeps the last good set when the URL fails, and answers
``invalid_client`` for a URL that never served a usable public set."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.responses import Response

from authgate.errors import ConfigError
from authgate.service.client_jwks import REFETCH_INTERVAL
from authgate.service.protocol import AuthServiceProtocol
from authgate.tokens import Key, KeyRing, TokenCodec, generate_key
from clients.conftest import Stack
from server.conftest import serve

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class KeyHost:
    """A client's own JWKS server: what ``/jwks`` answers, and how often it was asked."""

    url: str = ""
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def publish(self, *keys: Key, max_age: int = 300) -> None:
        self.body = orjson.dumps({"keys": [k.public_jwk() for k in keys]})
        self.status, self.headers = 200, {"cache-control": f"max-age={max_age}"}

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/{name}")
        async def jwks(name: str) -> Response:
            self.hits[name] = self.hits.get(name, 0) + 1
            return Response(self.body, self.status, self.headers, media_type="application/json")

        return app


@pytest.fixture
def host() -> Iterator[KeyHost]:
    keys = KeyHost()
    with serve(keys.app()) as (url, _):
        keys.url = url
        yield keys


def register(stack: Stack, jwks_uri: str) -> str:
    async def job(service: AuthServiceProtocol) -> str:
        client, _ = await service.registry.create_client(
            "remote-" + secrets.token_hex(4),
            grants=["client_credentials"],
            scopes=["orders:read"],
            auth_method="private_key_jwt",
            jwks_uri=jwks_uri,
        )
        return client.client_id

    return stack.live.call(job)


def assertion(stack: Stack, client_id: str, key: Key) -> dict[str, str]:
    now = int(stack.now())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": stack.published_token_endpoint,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    codec = TokenCodec(KeyRing.single(key), issuer="x", audience="x")
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": codec.encode(claims, typ="JWT"),
    }


def grant(stack: Stack, client_id: str, key: Key) -> httpx.Response:
    with stack.client() as http:
        return http.post("/auth/token", data=assertion(stack, client_id, key))


def refused(r: httpx.Response) -> bool:
    return r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_authlib_private_key_jwt_client_with_a_jwks_uri_gets_a_token(
    stack: Stack, host: KeyHost
) -> None:
    key = generate_key("RS256")
    host.publish(key)
    client_id = register(stack, host.url + "/jwks")
    for _ in range(2):
        stack.now()
        with OAuth2Client(
            client_id, key.private_pem().decode(), token_endpoint_auth_method="private_key_jwt"
        ) as oauth:
            oauth.register_client_auth_method(PrivateKeyJWT(stack.published_token_endpoint))
            token = oauth.fetch_token(stack.token_url, grant_type="client_credentials")
        assert token["token_type"].lower() == "bearer"
        assert token["scope"] == "orders:read"
    assert host.hits == {"jwks": 1}  # the second token used the cached set


def test_a_key_rotated_at_the_uri_is_fetched_once_on_its_new_kid(
    stack: Stack, host: KeyHost
) -> None:
    old, new, unpublished = (generate_key("ES256") for _ in range(3))
    host.publish(old)
    client_id = register(stack, host.url + "/jwks")
    assert grant(stack, client_id, old).status_code == 200
    host.publish(new)  # the client rotated: the old key is gone from its URL
    assert grant(stack, client_id, new).status_code == 200
    assert grant(stack, client_id, new).status_code == 200
    assert host.hits == {"jwks": 2}
    # Another unknown kid within the interval: no fetch (an attacker cannot make
    # the server hammer the client's URL), refused.
    assert refused(grant(stack, client_id, unpublished))
    assert host.hits == {"jwks": 2}
    stack.live.clock.advance(REFETCH_INTERVAL + 1)
    assert refused(grant(stack, client_id, unpublished))
    assert host.hits == {"jwks": 3}


def test_a_burst_of_assertions_with_a_new_kid_makes_one_fetch(stack: Stack, host: KeyHost) -> None:
    old, new = generate_key("EdDSA"), generate_key("EdDSA")
    host.publish(old)
    client_id = register(stack, host.url + "/jwks")
    assert grant(stack, client_id, old).status_code == 200
    host.publish(old, new)
    forms = [assertion(stack, client_id, new) for _ in range(50)]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
            replies = await asyncio.gather(*(http.post("/auth/token", data=f) for f in forms))
        return [r.status_code for r in replies]

    # One check per client at a time (the throttle's lease, A.7 #47): the rest wait
    # briefly or get 429 "busy", never a refusal of the new key.
    statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 429}, statuses
    assert 200 in statuses
    busy = [f for f, status in zip(forms, statuses, strict=True) if status == 429]
    with stack.client() as http:
        assert all(http.post("/auth/token", data=f).status_code == 200 for f in busy)
    assert host.hits == {"jwks": 2}


def test_a_failing_uri_keeps_the_last_good_set(stack: Stack, host: KeyHost) -> None:
    key = generate_key("RS256")
    host.publish(key, max_age=120)
    client_id = register(stack, host.url + "/jwks")
    assert grant(stack, client_id, key).status_code == 200
    host.status, host.body = 500, b"{}"
    stack.live.clock.advance(121)  # the set expired; the refetch fails
    assert grant(stack, client_id, key).status_code == 200
    assert grant(stack, client_id, key).status_code == 200
    assert host.hits == {"jwks": 2}  # a failed fetch is retried after the interval only
    stack.live.clock.advance(REFETCH_INTERVAL + 1)
    host.publish(generate_key("RS256"))  # back up, with another key: the old one is gone
    assert refused(grant(stack, client_id, key))
    assert host.hits == {"jwks": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unusable(host: KeyHost, key: Key, case: str) -> str:
    """Make ``host`` serve ``case`` and return the client's jwks_uri."""
    jwk = key.public_jwk()
    bodies: dict[str, Any] = {
        "oct": {"keys": [jwk, {"kty": "oct", "kid": "s", "alg": "HS256", "k": "c2VjcmV0"}]},
        "private": {"keys": [key.private_jwk()]},
        "oversized": {"keys": [jwk], "pad": "x" * 70_000},
        "empty": {"keys": []},
    }
    host.publish(key)
    if case in bodies:
        host.body = orjson.dumps(bodies[case])
    elif case == "garbage":
        host.body = b"<html>not a key set</html>"
    elif case == "not_found":
        host.status = 404
    elif case == "redirect":  # to a URL that does serve the key: still refused
        host.status, host.headers = 302, {"location": host.url + "/elsewhere"}
    elif case == "unreachable":
        return f"http://127.0.0.1:{_free_port()}/jwks"
    return host.url + "/jwks"


@pytest.mark.parametrize(
    "case",
    ["oct", "private", "oversized", "empty", "garbage", "not_found", "redirect", "unreachable"],
)
def test_a_uri_without_a_usable_public_set_is_invalid_client(
    stack: Stack, host: KeyHost, case: str
) -> None:
    key = generate_key("ES256")
    client_id = register(stack, _unusable(host, key, case))
    r = grant(stack, client_id, key)
    assert refused(r), r.text
    assert "elsewhere" not in host.hits  # a redirect is never followed
    if case != "unreachable":
        assert host.hits == {"jwks": 1}


@pytest.mark.parametrize(
    "uri",
    [
        "http://keys.example.com/jwks",  # plain http off loopback
        "file:///etc/passwd",
        "ftp://127.0.0.1/jwks",
        "https://user:pw@keys.example.com/jwks",
        "https://keys.example.com/jwks#frag",
        "/jwks",
    ],
)
def test_registration_refuses_a_jwks_uri_the_server_would_not_fetch(stack: Stack, uri: str) -> None:
    with pytest.raises(ConfigError, match="jwks-uri"):
        register(stack, uri)
