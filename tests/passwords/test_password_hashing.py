"""Argon2id storage, legacy bcrypt upgrade, the hashing-DoS guard and the thread pool
(SECURITY.md A.5 #34, #35, #37, #38)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Awaitable, Iterator

import bcrypt
import pytest
from argon2 import Type
from pwdlib.hashers.argon2 import Argon2Hasher

from authgate.errors import InvalidRequest
from authgate.passwords import BCRYPT_MAX_BYTES, PasswordHasher
from authgate.settings import PasswordSettings

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
GOOD = "plum-otter-harbour-47"


class CountingHasher(PasswordHasher):
    """The real hasher, recording how many worker-thread hashes ran and overlapped."""

    def __init__(self, settings: PasswordSettings) -> None:
        super().__init__(settings)
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _hash_sync(self, password: str) -> str:
        self._enter()
        try:
            return super()._hash_sync(password)
        finally:
            self._leave()

    def _verify_argon2_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        self._enter()
        try:
            return super()._verify_argon2_sync(password, stored_hash)
        finally:
            self._leave()

    def _verify_bcrypt_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        self._enter()
        try:
            return super()._verify_bcrypt_sync(password, stored_hash)
        finally:
            self._leave()


@pytest.fixture
def hasher() -> Iterator[CountingHasher]:
    instance = CountingHasher(PasswordSettings())
    yield instance
    instance.close()


def legacy_bcrypt(password: str) -> str:
    # As passlib wrote them: $2b$, cost 4 here only to keep the test fast.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.mark.anyio
async def test_phc_string_parameters_meet_owasp_minimum(hasher: CountingHasher) -> None:
    stored = await hasher.hash(GOOD)
    match = PHC.match(stored)
    assert match is not None, stored
    memory, time_cost, parallelism = (int(group) for group in match.groups())
    assert memory >= 19_456
    assert time_cost >= 2
    assert parallelism == 1


@pytest.mark.anyio
async def test_hash_is_salted_and_verifies_only_the_right_password(
    hasher: CountingHasher,
) -> None:
    first, second = await hasher.hash(GOOD), await hasher.hash(GOOD)
    assert first != second
    assert await hasher.verify(GOOD, first) == (True, None)
    assert await hasher.verify(GOOD + "x", first) == (False, None)


@pytest.mark.anyio
async def test_hundred_character_emoji_password_round_trips(hasher: CountingHasher) -> None:
    password = "".join(chr(0x1F600 + i % 80) for i in range(100))
    assert len(password) == 100
    stored = await hasher.hash(password)
    assert await hasher.verify(password, stored) == (True, None)
    assert await hasher.verify(password[:-1], stored) == (False, None)


@pytest.mark.anyio
async def test_nfkc_equivalent_spellings_verify(hasher: CountingHasher) -> None:
    composed = "caf\u00e9-latte-ｆｕｌｌ"
    decomposed = "cafe\u0301-latte-full"
    stored = await hasher.hash(composed)
    assert await hasher.verify(decomposed, stored) == (True, None)


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", ["$2b$", "$2a$", "$2y$"])
async def test_legacy_bcrypt_verifies_and_is_upgraded_to_argon2id(
    hasher: CountingHasher, prefix: str
) -> None:
    stored = prefix + legacy_bcrypt(GOOD)[4:]
    ok, new_hash = await hasher.verify(GOOD, stored)
    assert ok
    assert new_hash is not None
    assert PHC.match(new_hash)
    assert await hasher.verify(GOOD, new_hash) == (True, None)
    assert await hasher.verify("wrong-password", stored) == (False, None)


@pytest.mark.anyio
async def test_password_over_72_bytes_fails_cleanly_against_bcrypt(
    hasher: CountingHasher,
) -> None:
    password = "é" * 40  # 40 characters, 80 bytes
    stored = legacy_bcrypt("short-one")
    assert await hasher.verify(password, stored) == (False, None)


@pytest.mark.anyio
async def test_passwords_sharing_a_72_byte_prefix_do_not_cross_verify(
    hasher: CountingHasher,
) -> None:
    prefix = "p" * BCRYPT_MAX_BYTES
    first, second = prefix + "-first", prefix + "-second"
    stored = await hasher.hash(first)
    assert await hasher.verify(second, stored) == (False, None)
    assert await hasher.verify(first, stored) == (True, None)
    # bcrypt itself would see both as the same 72 bytes: authgate refuses instead.
    legacy = bcrypt.hashpw(prefix.encode(), bcrypt.gensalt(rounds=4)).decode()
    ok, _ = await hasher.verify(prefix, legacy)
    assert ok
    assert await hasher.verify(second, legacy) == (False, None)


@pytest.mark.anyio
async def test_weaker_argon2_parameters_are_rehashed(hasher: CountingHasher) -> None:
    weak = Argon2Hasher(memory_cost=8192, time_cost=1, parallelism=1).hash(GOOD)
    ok, new_hash = await hasher.verify(GOOD, weak)
    assert ok
    assert new_hash is not None
    match = PHC.match(new_hash)
    assert match is not None
    assert (int(match[1]), int(match[2]), int(match[3])) == (19_456, 2, 1)


@pytest.mark.anyio
async def test_argon2i_hash_is_upgraded_to_argon2id(hasher: CountingHasher) -> None:
    old = Argon2Hasher(memory_cost=19_456, time_cost=2, type=Type.I).hash(GOOD)
    ok, new_hash = await hasher.verify(GOOD, old)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith("$argon2id$")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$argon2id$v=19$m=19456,t=2,p=1",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!$???",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$",
        "$argon2d$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=99$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$2y$04$" + "!" * 53,
        "$2a$04$short",
        "$2b$04$" + "a" * 53,
        "$2b$99$" + "a" * 53,
        "$5$rounds=5000$salt$hash",
        "plaintext-password",
    ],
)
async def test_corrupt_or_unknown_hash_is_a_clean_failure(
    hasher: CountingHasher, stored: str
) -> None:
    assert await hasher.verify(GOOD, stored) == (False, None)


@pytest.mark.anyio
async def test_verify_dummy_costs_one_argon2_verify(hasher: CountingHasher) -> None:
    await hasher.verify_dummy(GOOD)  # first call also makes the dummy hash
    before = hasher.calls
    await hasher.verify_dummy(GOOD)
    assert hasher.calls - before == 1


@pytest.mark.anyio
async def test_megabyte_password_is_refused_before_any_hashing(
    hasher: CountingHasher,
) -> None:
    huge = "a" * 1_000_000
    stored = legacy_bcrypt(GOOD)
    with pytest.raises(InvalidRequest):
        hasher.check_length(huge)
    with pytest.raises(InvalidRequest):
        await hasher.hash(huge)
    with pytest.raises(InvalidRequest):
        await hasher.verify(huge, stored)
    with pytest.raises(InvalidRequest):
        await hasher.verify_dummy(huge)
    assert hasher.calls == 0


def test_max_length_password_is_allowed(hasher: CountingHasher) -> None:
    hasher.check_length("a" * PasswordSettings().max_length)


class TimedHasher(PasswordHasher):
    """Records, from the worker thread, when Argon2 started and ended; optionally
    waits until the event loop has run another task."""

    def __init__(self, settings: PasswordSettings) -> None:
        super().__init__(settings)
        self.span = (0.0, 0.0)
        self.loop_ran = threading.Event()
        self.saw_loop_run: bool | None = None

    def _hash_sync(self, password: str) -> str:
        started = time.perf_counter()
        result = super()._hash_sync(password)
        self.span = (started, time.perf_counter())
        return result


class ProbeHasher(TimedHasher):
    def _hash_sync(self, password: str) -> str:
        # Only possible if the hash is off the loop: the loop must set the event.
        self.saw_loop_run = self.loop_ran.wait(timeout=10)
        return super()._hash_sync(password)


@pytest.mark.anyio
async def test_hash_runs_off_the_event_loop_thread() -> None:
    probe = ProbeHasher(PasswordSettings())

    async def other_task() -> None:
        await asyncio.sleep(0)
        probe.loop_ran.set()

    await asyncio.gather(probe.hash(GOOD), other_task())
    probe.close()
    assert probe.saw_loop_run is True


@pytest.mark.anyio
async def test_event_loop_keeps_ticking_during_a_hash() -> None:
    # A slower hash (t=12, about 0.1-0.3 s) against a 5 ms ticker.
    slow = TimedHasher(PasswordSettings(argon2_time_cost=12))
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            await asyncio.sleep(0.005)
            ticks.append(time.perf_counter())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)  # let the ticker start
    await slow.hash(GOOD)
    done.set()
    await task
    slow.close()
    started, ended = slow.span
    during = [tick for tick in ticks if started < tick < ended]
    # Had the hash run on the loop, no tick could fall inside it.
    assert len(during) >= 3


@pytest.mark.anyio
async def test_hundred_concurrent_logins_never_exceed_the_cap() -> None:
    capped = CountingHasher(PasswordSettings(max_concurrent_hashes=2))
    stored = await capped.hash(GOOD)
    capped.max_in_flight = 0
    known: list[Awaitable[object]] = [capped.verify(GOOD, stored) for _ in range(50)]
    unknown: list[Awaitable[object]] = [capped.verify_dummy(GOOD) for _ in range(50)]
    await asyncio.gather(*known, *unknown)
    capped.close()
    assert capped.max_in_flight == 2


def test_cap_defaults_to_the_cpus_this_process_may_use() -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    allowed = os.sched_getaffinity(0)
    assert PasswordHasher(PasswordSettings()).max_concurrency == len(allowed)
    assert PasswordHasher(PasswordSettings(max_concurrent_hashes=3)).max_concurrency == 3


def test_cap_follows_a_restricted_cpu_affinity() -> None:
    """``taskset``/cgroup cpusets shrink the usable CPUs below ``os.cpu_count()``."""
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("needs at least two usable CPUs to restrict")
    os.sched_setaffinity(0, {min(allowed)})
    try:
        cap = PasswordHasher(PasswordSettings()).max_concurrency
    finally:
        os.sched_setaffinity(0, allowed)
    assert cap == 1


@pytest.mark.anyio
async def test_lone_surrogate_is_a_clean_invalid_request(hasher: CountingHasher) -> None:
    broken = "abc\ud800defgh"  # JSON allows "\ud800"; it is not encodable text
    stored = await hasher.hash(GOOD)
    with pytest.raises(InvalidRequest):
        await hasher.verify(broken, stored)
    with pytest.raises(InvalidRequest):
        await hasher.verify(broken, legacy_bcrypt(GOOD))
    with pytest.raises(InvalidRequest):
        await hasher.hash(broken)
    assert hasher.calls == 1
