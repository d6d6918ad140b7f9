"""Failed-login throttling per account and per IP with exponential back-off
(SECURITY.md A.5 #38, OWASP Authentication CS). Time moves only on the FrozenClock."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.clock import FrozenClock
from authgate.errors import RateLimited
from authgate.service.throttle import Attempt, LoginThrottle
from authgate.settings import ThrottleSettings
from authgate.store.throttle import ThrottleStore

SETTINGS = ThrottleSettings()  # 5 failures per 15 min, back-off 1 s, 50 per IP
IP = "203.0.113.7"


@pytest.fixture
async def throttle(clock: FrozenClock) -> AsyncIterator[LoginThrottle]:
    instance = LoginThrottle(SETTINGS, storage_uri=None, clock=clock)
    yield instance
    await instance.aclose()


async def fail(throttle: LoginThrottle, account: str, times: int, ip: str | None = IP) -> None:
    for _ in range(times):
        async with await throttle.reserve(account, ip) as attempt:
            await attempt.failed()


async def succeed(throttle: LoginThrottle, account: str, ip: str | None = IP) -> None:
    async with await throttle.reserve(account, ip) as attempt:
        await attempt.succeeded()


async def allowed(throttle: LoginThrottle, account: str, ip: str | None = IP) -> None:
    """An attempt may be reserved now (it is released unsettled: no verdict)."""
    async with await throttle.reserve(account, ip):
        pass


async def retry_after(throttle: LoginThrottle, account: str, ip: str | None = IP) -> int:
    with pytest.raises(RateLimited) as caught:
        await throttle.reserve(account, ip)
    return caught.value.retry_after


@pytest.mark.anyio
async def test_five_failures_block_the_sixth_attempt(throttle: LoginThrottle) -> None:
    await fail(throttle, "alice", 5)
    assert await retry_after(throttle, "alice") >= 1


@pytest.mark.anyio
async def test_four_failures_do_not_block(throttle: LoginThrottle) -> None:
    await fail(throttle, "alice", 4)
    await allowed(throttle, "alice", IP)


@pytest.mark.anyio
async def test_nonexistent_account_is_throttled_alike(throttle: LoginThrottle) -> None:
    await fail(throttle, "alice", 5)
    await fail(throttle, "no-such-user-4821", 5)
    assert await retry_after(throttle, "no-such-user-4821") == await retry_after(throttle, "alice")


@pytest.mark.anyio
async def test_failures_under_the_limit_never_block_even_mid_millisecond(
    throttle: LoginThrottle, clock: FrozenClock
) -> None:
    clock.set(1_700_000_000.0004)  # not on a millisecond boundary
    await fail(throttle, "alice", 4)
    await allowed(throttle, "alice", IP)


@pytest.mark.anyio
async def test_other_accounts_are_not_affected(throttle: LoginThrottle) -> None:
    await fail(throttle, "alice", 5)
    await allowed(throttle, "bob", IP)


@pytest.mark.anyio
async def test_block_ends_after_the_backoff(throttle: LoginThrottle, clock: FrozenClock) -> None:
    await fail(throttle, "alice", 5)
    wait = await retry_after(throttle, "alice")
    clock.advance(wait - 0.5)
    await retry_after(throttle, "alice")
    clock.advance(0.5)
    await allowed(throttle, "alice", IP)


@pytest.mark.anyio
async def test_backoff_doubles_with_each_further_failure(
    throttle: LoginThrottle, clock: FrozenClock
) -> None:
    await fail(throttle, "alice", 5)
    waits = []
    for _ in range(5):
        wait = await retry_after(throttle, "alice")
        waits.append(wait)
        clock.advance(wait)
        await fail(throttle, "alice", 1)
    assert waits == [1, 2, 4, 8, 16]


@pytest.mark.anyio
async def test_backoff_is_capped_at_the_window(throttle: LoginThrottle, clock: FrozenClock) -> None:
    await fail(throttle, "alice", 5)
    for _ in range(12):  # 2^12 s would be far beyond the 900 s window
        clock.advance(await retry_after(throttle, "alice"))
        await fail(throttle, "alice", 1)
    assert await retry_after(throttle, "alice") <= SETTINGS.window


@pytest.mark.anyio
async def test_victim_is_never_locked_out_longer_than_a_window(
    throttle: LoginThrottle, clock: FrozenClock
) -> None:
    await fail(throttle, "alice", 5)
    for _ in range(12):
        clock.advance(await retry_after(throttle, "alice"))
        await fail(throttle, "alice", 1)
    clock.advance(SETTINGS.window)  # the attacker stops
    await allowed(throttle, "alice", IP)


@pytest.mark.anyio
async def test_window_boundary_neither_ends_a_block_nor_grants_fresh_attempts(
    throttle: LoginThrottle, clock: FrozenClock
) -> None:
    window = SETTINGS.window
    boundary = (int(clock.now()) // window + 1) * window
    clock.set(boundary - 20.0)
    await fail(throttle, "alice", 5)
    for _ in range(4):  # waits of 1, 2, 4 and 8 s: now 5 s before the boundary
        clock.advance(await retry_after(throttle, "alice"))
        await fail(throttle, "alice", 1)
    assert await retry_after(throttle, "alice") == 16
    clock.advance(10)  # past the boundary
    assert clock.now() > boundary
    assert await retry_after(throttle, "alice") == 6
    clock.advance(6)
    await fail(throttle, "alice", 1)
    # The last window's nine failures still count (weighted 11 s in: 8.89, rounded
    # up), so this tenth one is blocked for 2^(10 - 5) s, not let through as a first.
    assert await retry_after(throttle, "alice") == 32


@pytest.mark.anyio
@pytest.mark.parametrize("before", [1, 2, 3, 4])
async def test_failures_straddling_a_window_boundary_all_count(
    throttle: LoginThrottle, clock: FrozenClock, before: int
) -> None:
    # Five failures within 0.5 s, ``before`` of them just ahead of the boundary: the
    # sixth attempt is blocked exactly as if they had all fallen in one window.
    boundary = (int(clock.now()) // SETTINGS.window + 1) * SETTINGS.window
    clock.set(boundary - 0.1 * before)
    for _ in range(5):
        await fail(throttle, "alice", 1)
        clock.advance(0.1)
    assert clock.now() > boundary
    assert await retry_after(throttle, "alice") == 1  # 2^(5 - 5) s, as in one window


@pytest.mark.anyio
async def test_a_whole_weighted_overlap_is_not_rounded_up_by_float_error(
    throttle: LoginThrottle, clock: FrozenClock
) -> None:
    # Six failures just before a boundary, then one a third of the way into the next
    # window: 6 × 2/3 = 4 of them still count, so this is the fifth (2^0 s), not a sixth.
    boundary = (int(clock.now()) // SETTINGS.window + 1) * SETTINGS.window
    clock.set(boundary - 5.0)
    await fail(throttle, "alice", 5)
    clock.advance(await retry_after(throttle, "alice"))
    await fail(throttle, "alice", 1)
    clock.set(boundary + SETTINGS.window / 3)
    await fail(throttle, "alice", 1)
    assert await retry_after(throttle, "alice") == 1


@pytest.mark.anyio
async def test_old_failures_fade_out(throttle: LoginThrottle, clock: FrozenClock) -> None:
    await fail(throttle, "alice", 5)
    clock.advance(2 * SETTINGS.window)
    await fail(throttle, "alice", 4)
    await allowed(throttle, "alice", IP)


@pytest.mark.anyio
async def test_success_resets_the_account(throttle: LoginThrottle, clock: FrozenClock) -> None:
    await fail(throttle, "alice", 5)
    clock.advance(await retry_after(throttle, "alice"))
    await succeed(throttle, "alice")
    await fail(throttle, "alice", 4)
    await fail(throttle, "alice", 1)
    assert await retry_after(throttle, "alice") == 1  # not a stale, longer block


@pytest.mark.anyio
async def test_per_ip_limit_spans_accounts(clock: FrozenClock) -> None:
    settings = ThrottleSettings(per_ip_max_failures=10)
    throttle = LoginThrottle(settings, storage_uri=None, clock=clock)
    for number in range(10):
        await fail(throttle, f"user-{number}", 1)
    wait = await retry_after(throttle, "someone-new")
    assert 1 <= wait <= settings.window
    await allowed(throttle, "someone-new", "198.51.100.1")  # another address is fine
    await allowed(throttle, "someone-new", None)
    clock.advance(wait)
    await allowed(throttle, "someone-new", IP)
    await throttle.aclose()


@pytest.mark.anyio
async def test_disabled_throttle_is_a_no_op(clock: FrozenClock) -> None:
    throttle = LoginThrottle(ThrottleSettings(enabled=False), storage_uri=None, clock=clock)
    await fail(throttle, "alice", 50)
    await allowed(throttle, "alice", IP)
    await succeed(throttle, "alice")
    await throttle.aclose()


@pytest.mark.anyio
async def test_unusual_account_and_ip_strings_are_safe_keys(throttle: LoginThrottle) -> None:
    for account in ["", "a" * 10_000, "ünïcødé", "with space:and*glob?[x]", "\ud800"]:
        await fail(throttle, account, 5, ip="::1")
        assert await retry_after(throttle, account, ip=None) == 1


# -- Redis -------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> str:
    return f"authgate-test:{uuid.uuid4().hex}"


@pytest.mark.redis
@pytest.mark.anyio
async def test_instances_sharing_redis_see_each_others_failures(
    redis_url: str, redis_prefix: str, clock: FrozenClock
) -> None:
    first = LoginThrottle(SETTINGS, storage_uri=redis_url, clock=clock, key_prefix=redis_prefix)
    second = LoginThrottle(SETTINGS, storage_uri=redis_url, clock=clock, key_prefix=redis_prefix)
    try:
        await fail(first, "alice", 3)
        await fail(second, "alice", 2)
        assert await retry_after(first, "alice") == 1
        assert await retry_after(second, "alice") == 1
        clock.advance(1)
        await fail(second, "alice", 1)
        assert await retry_after(first, "alice") == 2
        clock.advance(2)
        await succeed(first, "alice")
        await allowed(second, "alice", IP)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_backoff_and_expiry_follow_the_clock(
    redis_url: str, redis_prefix: str, clock: FrozenClock
) -> None:
    throttle = LoginThrottle(SETTINGS, storage_uri=redis_url, clock=clock, key_prefix=redis_prefix)
    try:
        await fail(throttle, "ghost-user", 5)
        waits = []
        for _ in range(3):
            wait = await retry_after(throttle, "ghost-user")
            waits.append(wait)
            clock.advance(wait)
            await fail(throttle, "ghost-user", 1)
        assert waits == [1, 2, 4]
        clock.advance(SETTINGS.window)
        await allowed(throttle, "ghost-user", IP)
    finally:
        await throttle.aclose()


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_keys_are_namespaced_and_expire(
    redis_url: str, redis_prefix: str, clock: FrozenClock
) -> None:
    import redis.asyncio

    throttle = LoginThrottle(SETTINGS, storage_uri=redis_url, clock=clock, key_prefix=redis_prefix)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await fail(throttle, "alice", 5)
        clock.advance(1)
        await fail(throttle, "alice", 1)
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*")]
        assert keys
        assert not any(b"alice" in key for key in keys)  # usernames are hashed
        for key in keys:
            assert 0 < await client.ttl(key) <= 2 * SETTINGS.window
    finally:
        await throttle.aclose()
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens: connection refused at once


@pytest.mark.anyio
async def test_unreachable_redis_still_throttles_in_memory(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis outage neither fails logins closed (503) nor open (unlimited guessing)."""
    throttle = LoginThrottle(SETTINGS, storage_uri=CLOSED_PORT, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="authgate.service"):
            await fail(throttle, "alice", 5)
            assert await retry_after(throttle, "alice") == 1
            clock.advance(1)
            await fail(throttle, "alice", 1)
            assert await retry_after(throttle, "alice") == 2  # back-off still doubles
            clock.advance(2)
            await succeed(throttle, "alice")
            await allowed(throttle, "alice", IP)
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1  # once per outage, not once per request
    finally:
        await throttle.aclose()


@pytest.mark.anyio
async def test_unreachable_redis_still_limits_each_ip(clock: FrozenClock) -> None:
    settings = ThrottleSettings(per_ip_max_failures=10)
    throttle = LoginThrottle(settings, storage_uri=CLOSED_PORT, clock=clock)
    try:
        for number in range(10):
            await fail(throttle, f"user-{number}", 1)
        assert await retry_after(throttle, "someone-new") >= 1
    finally:
        await throttle.aclose()


@pytest.mark.anyio
async def test_unreachable_redis_is_retried_after_a_pause(clock: FrozenClock) -> None:
    store = ThrottleStore(CLOSED_PORT, clock=clock, key_prefix="t", retry_after=5.0)
    try:
        assert await store.incr("k", 60) == 1
        assert store.degraded
        clock.advance(4.9)
        assert await store.incr("k", 60) == 2  # memory, Redis not asked yet
        clock.advance(0.1)
        assert await store.get("k") == 2  # Redis asked again, still down: memory
        assert store.degraded
    finally:
        await store.aclose()


class PrivateRedis:
    """A throwaway redis-server on a free loopback port, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # readiness poll of a child process, not a timed assertion
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.025)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.anyio
async def test_throttle_returns_to_redis_when_it_answers_again(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateRedis(tmp_path)
    server.start()
    store = ThrottleStore(server.url, clock=clock, key_prefix="t", retry_after=5.0)
    try:
        assert await store.incr("k", 600) == 1  # in Redis
        server.stop()
        with caplog.at_level(logging.WARNING, logger="authgate.service"):
            assert await store.incr("k", 600) == 1  # in memory: this instance alone
            assert store.degraded
            server.start()  # same port, empty: Redis forgot the first count
            assert await store.incr("k", 600) == 2  # still memory until the pause ends
            clock.advance(5.0)
            assert await store.incr("k", 600) == 1  # Redis again
            assert not store.degraded
        messages = [r.getMessage() for r in caplog.records]
        assert sum("Redis unreachable" in m for m in messages) == 1
        assert sum("Redis answers again" in m for m in messages) == 1
    finally:
        await store.aclose()
        server.stop()


@pytest.mark.redis
@pytest.mark.anyio
async def test_reachable_redis_is_used_and_not_degraded(
    redis_url: str, redis_prefix: str, clock: FrozenClock
) -> None:
    store = ThrottleStore(redis_url, clock=clock, key_prefix=redis_prefix)
    other = ThrottleStore(redis_url, clock=clock, key_prefix=redis_prefix)
    try:
        assert await store.incr("k", 60) == 1
        assert await other.get("k") == 1  # shared, so it went to Redis
        assert not store.degraded
    finally:
        await store.aclose()
        await other.aclose()


# -- registration --------------------------------------------------------------


@pytest.mark.anyio
async def test_registrations_per_ip_are_limited_per_hour(clock: FrozenClock) -> None:
    settings = ThrottleSettings(registrations_per_ip_per_hour=3)
    throttle = LoginThrottle(settings, storage_uri=None, clock=clock)
    try:
        clock.set(10 * 3600 + 600.0)  # ten minutes into an hour
        for _ in range(3):
            await throttle.hit_registration(IP)
        with pytest.raises(RateLimited) as caught:
            await throttle.hit_registration(IP)
        assert caught.value.retry_after == 3000
        await throttle.hit_registration("198.51.100.1")  # another address is fine
        await throttle.hit_registration(None)  # no address (the CLI): not limited
        clock.advance(3000)
        await throttle.hit_registration(IP)
    finally:
        await throttle.aclose()


@pytest.mark.anyio
async def test_registration_limit_holds_while_redis_is_down(clock: FrozenClock) -> None:
    settings = ThrottleSettings(registrations_per_ip_per_hour=2)
    throttle = LoginThrottle(settings, storage_uri=CLOSED_PORT, clock=clock)
    try:
        await throttle.hit_registration(IP)
        await throttle.hit_registration(IP)
        with pytest.raises(RateLimited):
            await throttle.hit_registration(IP)
    finally:
        await throttle.aclose()


# -- reservations (SECURITY.md A.7 #47) ------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def any_throttle(
    request: pytest.FixtureRequest, clock: FrozenClock, redis_prefix: str
) -> AsyncIterator[LoginThrottle]:
    uri = request.getfixturevalue("redis_url") if request.param == "redis" else None
    instance = LoginThrottle(SETTINGS, storage_uri=uri, clock=clock, key_prefix=redis_prefix)
    yield instance
    await instance.aclose()


@pytest.mark.anyio
async def test_a_fixed_window_count_outlives_a_burst_longer_than_its_period(
    any_throttle: LoginThrottle, clock: FrozenClock
) -> None:
    # The slot follows the injected clock, the key's TTL the store's: a burst that
    # outlasts ``period`` in real time while the clock stays in one slot (a clock
    # behind the store's, a frozen test clock) must not find its count gone.
    clock.set(1000 * 3600 + 0.25)
    for _ in range(2):
        await any_throttle.hit("burst", IP, limit=2, period=1)
    await asyncio.sleep(1.3)  # real time past the 1 s period; the clock has not moved
    with pytest.raises(RateLimited):
        await any_throttle.hit("burst", IP, limit=2, period=1)
    clock.advance(1)  # the next slot
    await any_throttle.hit("burst", IP, limit=2, period=1)


@pytest.mark.anyio
async def test_a_burst_of_reservations_for_one_account_lets_exactly_one_through(
    any_throttle: LoginThrottle,
) -> None:
    async def try_reserve() -> Attempt | None:
        try:
            return await any_throttle.reserve("alice", IP)
        except RateLimited:
            return None

    # More than can wait: all but one are refused, after their brief wait at most.
    attempts = await asyncio.gather(*(try_reserve() for _ in range(40)))
    granted = [a for a in attempts if a is not None]
    assert len(granted) == 1
    await granted[0].failed()
    await allowed(any_throttle, "alice")  # the lease is back once settled


@pytest.mark.anyio
async def test_a_waiting_attempt_gets_the_lease_when_the_one_in_flight_settles(
    any_throttle: LoginThrottle,
) -> None:
    first = await any_throttle.reserve("alice", IP)
    second = asyncio.create_task(any_throttle.reserve("alice", IP))
    await asyncio.sleep(0)  # the second one is now waiting for the lease
    await first.failed()
    async with await second as attempt:
        await attempt.failed()


@pytest.mark.anyio
async def test_a_reservation_counts_at_once_and_a_release_gives_it_back(
    any_throttle: LoginThrottle,
) -> None:
    await fail(any_throttle, "alice", 4)
    attempt = await any_throttle.reserve("alice", IP)
    await attempt.release()  # no verdict: not a failure
    await fail(any_throttle, "alice", 1)  # the fifth failure, not the sixth
    assert await retry_after(any_throttle, "alice") == 1


@pytest.mark.anyio
async def test_ip_reservations_in_flight_count_against_its_limit(clock: FrozenClock) -> None:
    throttle = LoginThrottle(ThrottleSettings(per_ip_max_failures=3), storage_uri=None, clock=clock)
    try:
        held = [await throttle.reserve(f"user-{n}", IP) for n in range(3)]
        assert await retry_after(throttle, "user-9") >= 1
        for attempt in held:
            await attempt.succeeded()  # successes give the address its count back
        await allowed(throttle, "user-9")
    finally:
        await throttle.aclose()
