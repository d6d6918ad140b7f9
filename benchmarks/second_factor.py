"""Second-factor cost: TOTP verification alone and through the auth service.

Measures, in-process (no HTTP), SQLite file, with a frozen clock the script moves:

1. ``matching_step`` alone (three HMAC-SHA1 codes compared in constant time): µs
   each and verifications per second, on the calling thread.
2. The login's second step with a wrong code, through ``complete_mfa`` (the
   ``mfa_token`` read, the sealed secret opened, the check, the rolled-back
   transaction, the ``mfa_failed`` audit row), 8 concurrent callers, the throttle off
   so every call reaches the check: verifications/s and the worst event-loop stall
   (a 5 ms ticker).
3. The same with the right code (8 users, each completes one login per 30-second
   step; minting the ``mfa_token``s, an Argon2 hash each, is not timed): completed
   logins/s and the worst loop stall.

    .venv/bin/python benchmarks/second_factor.py [--seconds 3] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from authgate.clock import FrozenClock
from authgate.errors import AuthError, MfaRequired
from authgate.service import AuthService, ClientInfo, open_service
from authgate.service.totp import matching_step, new_secret
from authgate.settings import Settings, ThrottleSettings

PASSWORD = "plum-otter-harbour-47-lantern"
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="bench")
USERS = 8


class Ticker:
    """The worst extra delay of a 5 ms asyncio sleep while ``run`` is awaited."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = False

    async def tick(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    async def run(self, work: Awaitable[object]) -> None:
        task = asyncio.create_task(self.tick())
        try:
            await work
        finally:
            self._stop = True
            await task


def bench_matching_step(seconds: float) -> tuple[float, float]:
    secret, now = new_secret(), time.time()
    code = pyotp.TOTP(secret).at(now - 30)  # matches the first of the three steps
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(100):
            matching_step(secret, code, now)
        done += 100
    elapsed = time.perf_counter() - started
    return elapsed / done * 1e6, done / elapsed


async def enrolled(service: AuthService, clock: FrozenClock, index: int) -> tuple[str, str]:
    user = await service.register(f"bench-mfa-{index}", PASSWORD)
    found = await service.enrol_totp(user.id)
    await service.confirm_totp(user.id, pyotp.TOTP(found.secret).at(clock.now()), client=CLIENT)
    return f"bench-mfa-{index}", found.secret


async def mfa_token(service: AuthService, username: str) -> str:
    try:
        await service.login(username, PASSWORD, scope=None, client=CLIENT)
    except MfaRequired as exc:
        return exc.mfa_token
    raise AssertionError("no second step")


async def closed_loop(n: int, seconds: float, step: Callable[[int], Awaitable[None]]) -> float:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await step(index)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(n)))
    return done / (time.perf_counter() - started)


async def run(seconds: float, rounds: int) -> None:
    clock = FrozenClock(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp), throttle=ThrottleSettings(enabled=False)
        )
        service = await open_service(settings, clock=clock)
        try:
            users = [await enrolled(service, clock, i) for i in range(USERS)]
            clock.advance(30)
            tokens = [await mfa_token(service, name) for name, _ in users]

            async def wrong(index: int) -> None:
                with contextlib.suppress(AuthError):
                    await service.complete_mfa(tokens[index], "otp", "000000", client=CLIENT)

            ticker = Ticker()
            rate: list[float] = []

            async def wrong_loop() -> None:
                rate.append(await closed_loop(USERS, seconds, wrong))

            await ticker.run(wrong_loop())
            wrong_rate, wrong_stall = rate[0], ticker.worst * 1000

            right_elapsed, right_done, right_stall = 0.0, 0, 0.0
            for _ in range(rounds):
                clock.advance(30)
                fresh = [await mfa_token(service, name) for name, _ in users]
                codes = [pyotp.TOTP(secret).at(clock.now()) for _, secret in users]
                ticker = Ticker()
                started = time.perf_counter()
                await ticker.run(
                    asyncio.gather(
                        *(
                            service.complete_mfa(t, "otp", c, client=CLIENT)
                            for t, c in zip(fresh, codes, strict=True)
                        )
                    )
                )
                right_elapsed += time.perf_counter() - started
                right_done += USERS
                right_stall = max(right_stall, ticker.worst * 1000)
        finally:
            await service.aclose()
    each_us, alone_rate = bench_matching_step(seconds)
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}; {USERS} concurrent callers; SQLite file")
    print("| operation | per second | ms each | worst loop stall (ms) |")
    print("|---|---|---|---|")
    print(f"| matching_step alone (±1 step) | {alone_rate:,.0f} | {each_us / 1000:.4f} |  |")
    print(
        f"| complete_mfa, wrong code (throttle off) | {wrong_rate:,.0f} | "
        f"{1000 / wrong_rate:.2f} | {wrong_stall:.2f} |"
    )
    right_rate = right_done / right_elapsed
    print(
        f"| complete_mfa, right code (session opened) | {right_rate:,.0f} | "
        f"{1000 / right_rate:.2f} | {right_stall:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.rounds))


if __name__ == "__main__":
    main()
