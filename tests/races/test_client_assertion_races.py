"""A client assertion is single-use however it is raced (RFC 7523 §3 item 7,
SECURITY.md A.7 #55): one burst of the same assertion spread over two server
instances on one database (SQLite file, PostgreSQL), or with the replay store in
Redis, yields exactly one token."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import orjson
import pytest
import redis

from authgate.service import AuthService
from authgate.tokens import KeyRing, TokenCodec, generate_key
from races.conftest import RaceServer, ServerFactory

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _register(server: RaceServer, jwks: str) -> str:
    async def job(service: AuthService) -> str:
        await service.registry.create_api("orders", "https://orders.internal", ["orders:read"])
        client, _ = await service.registry.create_client(
            "keyed",
            grants=["client_credentials"],
            scopes=["orders:read"],
            auth_method="private_key_jwt",
            jwks=jwks,
        )
        return client.client_id

    return server.call(job)


async def _burst(servers: list[RaceServer], form: dict[str, str], n: int) -> list[int]:
    clients = [s.client() for s in servers]
    try:
        replies = await asyncio.gather(
            *(clients[i % len(clients)].post("/auth/token", data=form) for i in range(n))
        )
    finally:
        for c in clients:
            await c.aclose()
    return [r.status_code for r in replies]


def _assertion(server: RaceServer, key: Any, client_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": server.settings.issuer,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    return TokenCodec(KeyRing.single(key), issuer="x", audience="x").encode(claims, typ="JWT")


def _run(servers: list[RaceServer], token: str) -> list[int]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": token,
    }
    return asyncio.run(_burst(servers, form, 30))


def test_one_assertion_raced_over_two_instances_is_accepted_once(
    start_server: ServerFactory, database_url: str
) -> None:
    key = generate_key("ES256")
    jwks = orjson.dumps({"keys": [key.public_jwk()]}).decode()
    first = start_server(database_url=database_url)
    second = start_server(database_url=database_url)
    client_id = _register(first, jwks)
    codes = _run([first, second], _assertion(first, key, client_id))
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 401, 429}


@pytest.mark.parametrize("instances", [1, 2])
def test_one_assertion_with_the_replay_store_in_redis_is_accepted_once(
    start_server: ServerFactory, redis_url: str, redis_namespace: str, tmp_path: Any, instances: int
) -> None:
    key = generate_key("EdDSA")
    jwks = orjson.dumps({"keys": [key.public_jwk()]}).decode()
    database = f"sqlite:///{tmp_path / 'shared' / 'authgate.db'}"
    servers = [
        start_server(database_url=database, redis_url=redis_url, redis_namespace=redis_namespace)
        for _ in range(instances)
    ]
    client_id = _register(servers[0], jwks)
    codes = _run(servers, _assertion(servers[0], key, client_id))
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 401, 429}
    # The jti was recorded in Redis, under the deployment's namespace, with an expiry.
    client = redis.Redis.from_url(redis_url)
    try:
        [stored] = client.keys(f"{redis_namespace}:jti:*")
        assert 0 < client.ttl(stored) <= 300
    finally:
        client.close()
