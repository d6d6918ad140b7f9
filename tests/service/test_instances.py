"""Several instances on one database, and restarts: the database is the source of
truth; Redis makes fan-out fast; polling covers a Redis outage."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import redis
from sqlalchemy import select

from authgate.clock import FrozenClock
from authgate.errors import InvalidCredentials, RateLimited, Revoked
from authgate.service import AuthService, ClientInfo
from authgate.settings import Settings, ThrottleSettings
from authgate.store.fanout import channel_for
from authgate.store.schema import signing_keys
from service.conftest import OTHER_PASSWORD, PASSWORD

CLIENT = ClientInfo(ip="192.0.2.1")


async def _revoked_within(service: AuthService, token: str, seconds: float) -> bool:
    """Bounded wait: True once ``token`` is refused (no timing is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            await service.verify_access_token(token)
        except Revoked:
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.anyio
async def test_revocations_and_keys_survive_a_restart(
    make_service: Callable[..., Any],
) -> None:
    first: AuthService = await make_service()
    await first.register("alice", PASSWORD)
    kept = await first.login("alice", PASSWORD, scope=None, client=CLIENT)
    dropped = await first.login("alice", PASSWORD, scope=None, client=CLIENT)
    await first.logout(await first.verify_access_token(dropped.access_token))
    await first.aclose()
    second: AuthService = await make_service()
    await second.verify_access_token(kept.access_token)  # same key after restart
    with pytest.raises(Revoked):
        await second.verify_access_token(dropped.access_token)
    await second.refresh(kept.refresh_token, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_logout_on_one_instance_reaches_the_other_through_redis(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], redis_url: str
) -> None:
    # A channel of its own: other runs sharing this Redis publish on theirs.
    settings = make_settings(redis_url=redis_url, redis_namespace=f"fanout-{secrets.token_hex(4)}")
    a: AuthService = await make_service(settings)
    b: AuthService = await make_service(settings)
    # Polling (60 s) far slower than the bounded wait (10 s, generous for a loaded
    # machine): only the Redis path can deliver in time.
    b.sync.poll_interval = b.sync.backstop_interval = 60.0
    await a.register("bob", PASSWORD)
    pair = await a.login("bob", PASSWORD, scope=None, client=CLIENT)
    await b.verify_access_token(pair.access_token)
    for _ in range(100):  # wait for B's subscriber (bounded)
        if b.sync.fanout is not None and b.sync.fanout.healthy:
            break
        await asyncio.sleep(0.02)
    await a.logout(await a.verify_access_token(pair.access_token))
    assert await _revoked_within(b, pair.access_token, 10.0)


@pytest.mark.anyio
async def test_revocations_still_reach_other_instances_when_redis_is_down(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    # Nothing listens on port 1: Redis is unreachable; the throttle (also Redis) is off.
    settings = make_settings(
        redis_url="redis://127.0.0.1:1/0", throttle=ThrottleSettings(enabled=False)
    )
    a: AuthService = await make_service(settings)
    b: AuthService = await make_service(settings)
    await a.register("carol", PASSWORD)
    pair = await a.login("carol", PASSWORD, scope=None, client=CLIENT)
    await b.verify_access_token(pair.access_token)
    await a.logout_all(pair.user_id)
    with pytest.raises(Revoked):  # at once on the instance that revoked
        await a.verify_access_token(pair.access_token)
    assert await _revoked_within(b, pair.access_token, 5.0)


@pytest.mark.anyio
async def test_key_rotation_is_persisted_and_reaches_other_instances(
    make_service: Callable[..., Any], clock: FrozenClock
) -> None:
    a: AuthService = await make_service()
    b: AuthService = await make_service()
    await a.register("dave", PASSWORD)
    old = await a.login("dave", PASSWORD, scope=None, client=CLIENT)
    old_kid = a.keyring.active.kid
    new_kid = await a.rotate_keys(now=True)
    assert new_kid != old_kid
    fresh = await a.login("dave", PASSWORD, scope=None, client=CLIENT)
    assert (await a.verify_access_token(fresh.access_token)).kid == new_kid
    await a.verify_access_token(old.access_token)  # old key: verify-only
    await b.sync.poll_once()  # B picks the change up from the log
    assert b.keyring.active.kid == new_kid
    await b.verify_access_token(fresh.access_token)
    c: AuthService = await make_service()  # and a restart sees it
    assert c.keyring.active.kid == new_kid
    # Past its retirement time the old key leaves the ring and the database.
    clock.advance(a.settings.access_token_ttl + a.settings.leeway + 1)
    await a.rotate_keys(now=True)
    assert a.keyring.get(old_kid) is None
    async with a.db.engine.connect() as conn:
        kids = set((await conn.execute(select(signing_keys.c.kid))).scalars())
    assert old_kid not in kids


@pytest.mark.anyio
async def test_private_keys_are_encrypted_at_rest(service: AuthService) -> None:
    jwk = service.keyring.active.private_jwk()
    async with service.db.engine.connect() as conn:
        rows = (await conn.execute(select(signing_keys))).all()
    assert rows
    for row in rows:
        blob = bytes(row.encrypted_jwk)
        assert jwk["d"].encode() not in blob
        assert b'"d"' not in blob


@pytest.mark.anyio
async def test_deployments_sharing_one_redis_keep_throttles_and_channels_apart(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], redis_url: str
) -> None:
    tag = secrets.token_hex(4)
    throttle = ThrottleSettings(max_failures=2, window=600)

    def deployment(name: str) -> Settings:
        return make_settings(
            redis_url=redis_url, redis_namespace=f"{name}-{tag}", throttle=throttle
        )

    x1: AuthService = await make_service(deployment("x"))
    x2: AuthService = await make_service(deployment("x"))
    y: AuthService = await make_service(deployment("y"))
    await x1.register("ivan", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await x1.login("ivan", OTHER_PASSWORD, scope=None, client=CLIENT)
    # Same namespace: one throttle. Other namespace, same Redis and database: its own.
    with pytest.raises(RateLimited):
        await x2.login("ivan", PASSWORD, scope=None, client=CLIENT)
    await y.login("ivan", PASSWORD, scope=None, client=CLIENT)
    # Pub/sub ignores the database number; the namespace names the channel.
    client = redis.Redis.from_url(redis_url, socket_timeout=2, decode_responses=True)
    try:
        for _ in range(100):  # wait for the three subscribers (bounded)
            counts = dict(client.pubsub_numsub(channel_for(f"x-{tag}"), channel_for(f"y-{tag}")))
            if list(counts.values()) == [2, 1]:
                break
            await asyncio.sleep(0.02)
    finally:
        client.close()
    assert counts == {channel_for(f"x-{tag}"): 2, channel_for(f"y-{tag}"): 1}
