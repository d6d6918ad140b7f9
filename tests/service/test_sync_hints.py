"""SECURITY.md A.7 #50: Redis carries hints, never truth. A message on the revocation
channel only makes an instance read the database log sooner; its body is never
applied, and a flood of messages costs at most one read in flight plus one queued.
Real Redis (the machine's, on a channel of the test's own) and both databases."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import redis
from sqlalchemy import event

from authgate.clock import FrozenClock
from authgate.errors import Revoked
from authgate.service import AuthService, ClientInfo
from authgate.service.sync import NUDGE
from authgate.settings import Settings
from authgate.store.fanout import channel_for
from service.conftest import PASSWORD

CLIENT = ClientInfo(ip="192.0.2.7")
BURST = 500


async def _until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Bounded wait (no timing is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


async def _accepted(service: AuthService, token: str) -> bool:
    try:
        await service.verify_access_token(token)
    except Revoked:
        return False
    return True


class Pair:
    """Instances A and B on one database and one Redis channel of their own. B polls
    the log only when nudged (its backstop poll is 60 s away), so anything B learns
    in a test came through a message and a read of the log."""

    def __init__(self, a: AuthService, b: AuthService, channel: str, redis_url: str) -> None:
        self.a, self.b, self.channel = a, b, channel
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5)

    def publish(self, *messages: bytes) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, message)
        pipe.execute()

    async def settled(self, messages: int) -> None:
        """B has received ``messages`` and no read of the log is queued or running."""
        sync = self.b.sync
        assert await _until(lambda: sync.counts.messages >= messages)
        assert await _until(lambda: sync.idle)


@pytest.fixture
async def pair(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], redis_url: str
) -> AsyncIterator[Pair]:
    namespace = f"hints-{secrets.token_hex(4)}"
    settings = make_settings(redis_url=redis_url, redis_namespace=namespace)
    a: AuthService = await make_service(settings)
    b: AuthService = await make_service(settings)
    # Set before B's poller first runs (nothing awaited since open_service started
    # it), so its first poll is 60 s away.
    b.sync.poll_interval = b.sync.backstop_interval = 60.0
    assert await _until(lambda: all(s.sync.fanout.healthy for s in (a, b) if s.sync.fanout))
    # The read every (re)connect makes is done before the test counts anything.
    assert await _until(lambda: b.sync.counts.reads >= 1 and b.sync.idle)
    both = Pair(a, b, channel_for(namespace), redis_url)
    try:
        yield both
    finally:
        both.redis.close()


@contextmanager
def log_reads(service: AuthService) -> Iterator[list[str]]:
    """SQL statements that read the revocation log, as the database sees them."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM revocations" in statement:
            seen.append(statement)

    engine = service.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _forgeries(jti: str, sid: str, victim: str, innocent: str) -> list[bytes]:
    """What authgate used to apply from the channel ([kind, key, value, expires_at]),
    mutated: expiries set to 0 or negative, cut-offs in the far future, key reloads
    and unknown kinds, plus garbage and a huge message."""
    far = 1e18
    rows: list[list[Any]] = [
        ["jti", jti, 0, 0],
        ["jti", jti, 0, -1],
        ["sid", sid, 0, 0],
        ["sid", sid, 0, -1e308],
        ["sub", victim, 0, 0],
        ["sub", innocent, far, far],
        ["sub", innocent, 4_102_444_800, 4_102_444_800],
        ["jti", "unrelated", far, far],
        ["keys", "forged-kid", 0, 0],
        ["admin", innocent, far, far],
    ]
    return [
        *(orjson.dumps(row) for row in rows),
        NUDGE,
        b"",
        b"\x00\xff" * 64,
        b'{"kind": "sub", "key": "' + innocent.encode() + b'", "value": 1e308}',
        b"[" * 10_000,
        b"x" * 1_000_000,
    ]


@pytest.mark.anyio
@pytest.mark.redis
async def test_forged_messages_neither_un_revoke_nor_revoke(pair: Pair, clock: FrozenClock) -> None:
    a, b = pair.a, pair.b
    await a.register("victim", PASSWORD)
    await a.register("innocent", PASSWORD)
    out = await a.login("victim", PASSWORD, scope=None, client=CLIENT)
    fresh = await a.login("innocent", PASSWORD, scope=None, client=CLIENT)
    token = await b.verify_access_token(out.access_token)
    await a.logout(await a.verify_access_token(out.access_token))
    assert await _until(lambda: b.revocation.jti.get(token.jti) is not None)
    assert token.sid is not None
    keys_before = b.keyring.active.kid
    reloads: list[int] = []
    on_keys = b.sync.on_keys

    async def counting_reload() -> None:
        reloads.append(1)
        await on_keys()

    b.sync.on_keys = counting_reload
    forged = _forgeries(token.jti, token.sid, token.sub, fresh.user_id)
    before = b.sync.counts.messages
    pair.publish(*forged)
    await pair.settled(before + len(forged))
    # The maintenance pass purges what has expired: nothing forged may count as such.
    clock.advance(60)
    for service in (a, b):
        await service.maintenance()
        assert not await _accepted(service, out.access_token)
        assert await _accepted(service, fresh.access_token)
    assert reloads == []  # no keys row in the log: no reload, whatever a message says
    assert b.keyring.active.kid == keys_before


@pytest.mark.anyio
@pytest.mark.redis
async def test_a_burst_during_a_slow_read_costs_one_more_read(pair: Pair) -> None:
    """At most one read in flight plus one queued: 500 messages that arrive while a
    read is running (held here, as a slow database would) add exactly one read."""
    sync = pair.b.sync
    reads = sync.counts.reads
    with log_reads(pair.b) as statements:
        async with sync._poll_lock:  # the read in flight, stalled
            pair.publish(b"garbage")
            # The nudge loop took it and waits for the lock: a read in flight.
            assert await _until(lambda: sync.counts.messages == 1 and not sync.idle)
            assert await _until(lambda: not sync._wake.is_set())
            pair.publish(*(secrets.token_bytes(16) for _ in range(BURST - 1)))
            assert await _until(lambda: sync.counts.messages == BURST)
        await pair.settled(BURST)
    assert sync.counts.reads - reads == 2
    assert len(statements) == 2
    assert sync.counts.coalesced == BURST - 2


@pytest.mark.anyio
@pytest.mark.redis
async def test_a_free_running_burst_reads_one_at_a_time(pair: Pair) -> None:
    sync = pair.b.sync
    reads = sync.counts.reads
    running = peak = 0
    poll_once = sync.poll_once

    async def watched() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await poll_once()
        finally:
            running -= 1

    sync.poll_once = watched  # type: ignore[method-assign]
    with log_reads(pair.b) as statements:
        pair.publish(*(b"garbage" for _ in range(BURST)))
        await pair.settled(BURST)
    added = sync.counts.reads - reads
    print(f"{BURST} messages → {added} reads of the log ({sync.counts.coalesced} coalesced)")
    assert peak == 1
    assert added == len(statements) == BURST - sync.counts.coalesced


@pytest.mark.anyio
@pytest.mark.redis
async def test_a_key_rotation_reaches_the_other_instance_through_the_log(pair: Pair) -> None:
    a, b = pair.a, pair.b
    new_kid = await a.rotate_keys(now=True)
    # B's only way to learn it: A's nudge, then the keys row in the log.
    assert await _until(lambda: b.keyring.active.kid == new_kid)


@pytest.mark.anyio
@pytest.mark.redis
async def test_a_logout_reaches_the_other_instance_through_the_log(pair: Pair) -> None:
    a, b = pair.a, pair.b
    await a.register("walker", PASSWORD)
    tokens = await a.login("walker", PASSWORD, scope=None, client=CLIENT)
    with log_reads(b) as statements:
        await a.logout(await a.verify_access_token(tokens.access_token))
        for _ in range(500):
            if not await _accepted(b, tokens.access_token):
                break
            await asyncio.sleep(0.01)
    assert not await _accepted(b, tokens.access_token)
    assert statements  # B read the log; the message itself carried nothing
